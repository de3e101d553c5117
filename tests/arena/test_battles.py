"""Battles end to end on the server, with real tiny models on CPU through
transformers: streaming, multi-turn, the vote as data, names hidden before the
vote, limits, failures that are not counted, ownership and CSRF."""

import json

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from annotation.models import Annotation, ComparisonItem
from annotation.services.datasets import dataset_snapshot_build
from arena.models import Battle, BattleStatus, PoolModel, StreamSlot, Turn, TurnStatus
from arena.services import limits
from arena.services.config import arena_configure
from arena.services.leaderboard import arena_leaderboard
from arena.services.pool import pair_counts
from generation.models import ModelRole
from generation.services.registry import model_spec_register
from generation.signals import policy_promoted
from tests.generation.tiny_model import tiny_model_save


def client_for(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def events_of(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response.streaming_content).decode()
    return [json.loads(chunk[len("data: "):]) for chunk in body.split("\n\n") if chunk]


def start(client, project) -> dict:
    response = client.post(reverse("arena-battle-start", args=[project.pk]), "{}",
                           content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def turn(client, battle: dict, **body):
    return client.post(battle["urls"]["turn"], json.dumps(body), content_type="application/json")


def vote(client, battle: dict, **body):
    return client.post(battle["urls"]["vote"], json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_a_two_turn_battle_streams_both_models_and_its_vote_becomes_a_label(
        arena_project, labeler, arena_specs):
    client = client_for(labeler)
    names = {spec.name for spec in arena_specs}
    battle = start(client, arena_project)
    seen = [json.dumps(battle)]

    events = events_of(turn(client, battle, prompt="Name a river"))
    seen.append(json.dumps(events))
    deltas = {side: [e["text"] for e in events if e["type"] == "delta" and e["side"] == side]
              for side in "ab"}
    assert len(deltas["a"]) + len(deltas["b"]) >= 4  # piece by piece, not one blob per answer
    assert all(deltas.values())
    assert [e["type"] for e in events][-1] == "done"
    assert {e["side"] for e in events if e["type"] == "end"} == {"a", "b"}
    events = events_of(turn(client, battle, prompt="And a mountain?"))
    seen.append(json.dumps(events))
    assert events[-1] == {"type": "done", "turn": 1, "turns_left": 0}
    second = Turn.objects.get(battle_id=battle["id"], index=1)
    assert second.text_a == "".join(e["text"] for e in events
                                    if e["type"] == "delta" and e["side"] == "a").strip()
    third = turn(client, battle, prompt="One more")
    assert third.status_code == 409 and "at most 2 turns" in third.json()["detail"]

    page = client.get(reverse("arena", args=[arena_project.pk])).content.decode()
    seen.append(page)
    for text in seen:  # before the vote, no response names either model
        assert not any(name in text for name in names)

    answer = vote(client, battle, strength=-1, rationale="A was clearer", flagged_unsafe=True)
    assert answer.status_code == 200, answer.content
    stored = Battle.objects.get(pk=battle["id"])
    assert answer.json()["models"] == {"a": stored.model_a.name, "b": stored.model_b.name}
    assert stored.status == BattleStatus.VOTED

    item = ComparisonItem.objects.get(pk=stored.item_id)
    assert item.prompt.messages == [{"role": "user", "content": "Name a river"}]
    slots = list(item.slots.select_related("response").order_by("position"))
    turns = list(stored.turns.order_by("index"))
    assert [s.response.model_name for s in slots] == [stored.model_a.name, stored.model_b.name]
    assert slots[0].response.metadata["messages"] == [
        {"role": "assistant", "content": turns[0].text_a},
        {"role": "user", "content": "And a mountain?"},
        {"role": "assistant", "content": turns[1].text_a}]
    assert slots[0].response.sampling == {"temperature": 1.0, "max_tokens": 8}
    label = Annotation.objects.get(item=item)
    assert (label.labeler, label.strength, label.flagged_unsafe) == (labeler, -1, True)
    # The voter's label leaves the overlap to the re-labelers.
    assert (item.assigned_count, item.submitted_count, item.is_open) == (0, 1, True)
    assert vote(client, battle, strength=1).status_code == 409  # one vote per battle

    board = arena_leaderboard(arena=arena_project.arena, n_resamples=20)
    assert board["n_battles"] == 1
    assert board["rows"][0]["model"] == stored.model_a.name  # A won
    assert board["counts"] == [[0, 1], [1, 0]]
    assert board["wins"][0][1] == 1.0


@pytest.mark.django_db
def test_the_battle_exports_as_a_multi_turn_conversational_trl_row(arena_project, labeler, tmp_path):
    from annotation.datasets.writers import export_write

    client = client_for(labeler)
    battle = start(client, arena_project)
    events_of(turn(client, battle, prompt="Name a river"))
    events_of(turn(client, battle, prompt="And a mountain?"))
    assert vote(client, battle, strength=2).status_code == 200
    stored = Battle.objects.get(pk=battle["id"])
    turns = list(stored.turns.order_by("index"))
    snapshot = dataset_snapshot_build(project=arena_project, filters={"min_labels": 1})
    out = tmp_path / "trl"
    export_write(snapshot=snapshot, fmt="trl", out=out, style="conversational")
    rows = [json.loads(line) for path in out.glob("*.jsonl") for line in path.read_text().splitlines()
            if line.strip()]
    (row,) = [r for r in rows if "chosen" in r]
    assert row["prompt"] == [{"role": "user", "content": "Name a river"}]
    assert row["chosen"] == [{"role": "assistant", "content": turns[0].text_b},
                             {"role": "user", "content": "And a mountain?"},
                             {"role": "assistant", "content": turns[1].text_b}]
    assert row["rejected"][-1] == {"role": "assistant", "content": turns[1].text_a}
    import pyarrow.parquet as pq

    export_write(snapshot=snapshot, fmt="parquet", out=tmp_path / "pq", style="conversational")
    table = pq.read_table(next((tmp_path / "pq").glob("train.parquet")) if snapshot.counts.get(
        "train") else next((tmp_path / "pq").glob("test.parquet")))
    assert table.to_pylist()[0]["chosen"] == row["chosen"]


@pytest.mark.django_db
def test_regenerate_replaces_the_last_turn(arena_project, labeler):
    client = client_for(labeler)
    battle = start(client, arena_project)
    events_of(turn(client, battle, prompt="Name a river"))
    first = Turn.objects.get(battle_id=battle["id"])
    events = events_of(turn(client, battle, regenerate=True))
    assert events[-1]["type"] == "done"
    again = Turn.objects.get(battle_id=battle["id"])
    assert (again.index, again.user_text) == (0, "Name a river") and again.pk != first.pk
    # Both generations cost tokens: regenerating does not refill the hourly budget.
    spent = first.tokens_a + first.tokens_b + again.tokens_a + again.tokens_b
    assert limits.tokens_used(arena=arena_project.arena, user=labeler) == spent


@pytest.mark.django_db
def test_a_stop_request_ends_the_streaming_turn(arena_project, labeler, arena_specs, tmp_path):
    # A deeper model (a few ms a token): 400 tokens take long enough to stop midway.
    slow = tiny_model_save(tmp_path / "slow", hidden=256, layers=8)
    for spec in arena_specs:
        spec.path = str(slow)
        spec.save()
    arena_configure(project=arena_project, max_output_tokens=400, sampling={"temperature": 0.0})
    client = client_for(labeler)
    battle = start(client, arena_project)
    response = turn(client, battle, prompt="Write a long story")
    stream = iter(response.streaming_content)
    first = next(stream)  # tokens are flowing
    assert b'"delta"' in first
    assert client.post(battle["urls"]["stop"]).json() == {"stopping": True}
    rest = [json.loads(c[len("data: "):]) for c in b"".join(stream).decode().split("\n\n") if c]
    assert rest[-1]["type"] == "done"
    saved = Turn.objects.get(battle_id=battle["id"])
    assert saved.status == TurnStatus.STOPPED
    assert saved.tokens_a < 400 and saved.tokens_b < 400
    assert not StreamSlot.objects.exists()  # slots released


@pytest.mark.django_db
def test_a_model_that_fails_is_reported_and_the_battle_is_not_counted(arena_project, labeler, arena_specs):
    broken = model_spec_register(name="arena-broken", role=ModelRole.POLICY,
                                 path="/nonexistent/checkpoint")[0]
    arena = arena_project.arena
    PoolModel.objects.filter(arena=arena, spec=arena_specs[1]).update(weight=0)
    PoolModel.objects.create(arena=arena, spec=broken)
    client = client_for(labeler)
    battle = start(client, arena_project)
    events = events_of(turn(client, battle, prompt="Hello"))
    failed = events[-1]
    assert failed["type"] == "failed" and "no checkpoint" in failed["error"]
    stored = Battle.objects.get(pk=battle["id"])
    assert stored.status == BattleStatus.FAILED and "no checkpoint" in stored.error
    answer = vote(client, battle, strength=0)
    assert answer.status_code == 409 and "failed" in answer.json()["detail"]
    assert "models" not in answer.json()
    assert pair_counts(arena=arena) == {}  # not counted for balance …
    assert arena_leaderboard(arena=arena)["n_battles"] == 0  # … nor for ratings
    assert not ComparisonItem.objects.filter(project=arena_project).exists()
    assert not StreamSlot.objects.exists()


@pytest.mark.django_db
@override_settings(PALATE_ARENA_TOKEN_TIMEOUT_S=1)
def test_a_server_that_does_not_answer_times_out_and_fails_the_battle(arena_project, labeler):
    import socket

    listener = socket.socket()  # accepts the connection and never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        arena = arena_project.arena
        PoolModel.objects.filter(arena=arena).update(weight=0)
        for name in ("arena-silent-1", "arena-silent-2"):
            silent = model_spec_register(
                name=name, role=ModelRole.POLICY, backend="vllm-server",
                endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1")[0]
            PoolModel.objects.create(arena=arena, spec=silent)
        client = client_for(labeler)
        battle = start(client, arena_project)
        events = events_of(turn(client, battle, prompt="Hello"))
    finally:
        listener.close()
    assert events[-1]["type"] == "failed" and "in time" in events[-1]["error"]
    assert Battle.objects.get(pk=battle["id"]).status == BattleStatus.FAILED


@pytest.mark.django_db
def test_battles_per_hour_are_limited(arena_project, labeler):
    arena_configure(project=arena_project, battles_per_hour=1)
    client = client_for(labeler)
    start(client, arena_project)
    refused = client.post(reverse("arena-battle-start", args=[arena_project.pk]), "{}",
                          content_type="application/json")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert Battle.objects.count() == 1


@pytest.mark.django_db
def test_tokens_per_hour_are_limited(arena_project, labeler):
    arena_configure(project=arena_project, tokens_per_hour=20)  # one turn may take 2 × 8
    client = client_for(labeler)
    battle = start(client, arena_project)
    events_of(turn(client, battle, prompt="Hi"))
    refused = turn(client, battle, prompt="Again")
    assert refused.status_code == 429 and "tokens" in refused.json()["detail"]
    assert Turn.objects.filter(battle_id=battle["id"]).count() == 1


@pytest.mark.django_db
@override_settings(PALATE_ARENA_MAX_STREAMS=2)
def test_concurrent_streams_per_server_are_capped(arena_project, labeler):
    client = client_for(labeler)
    battle = Battle.objects.get(pk=start(client, arena_project)["id"])
    held = [limits.stream_slot_take(server="http://gpu-1/v1", battle=battle) for _ in range(2)]
    with pytest.raises(limits.ServerBusy):
        limits.stream_slot_take(server="http://gpu-1/v1", battle=battle)
    limits.stream_slot_take(server="http://gpu-2/v1", battle=battle)  # another server has room
    limits.stream_slots_release(held[:1])
    limits.stream_slot_take(server="http://gpu-1/v1", battle=battle)


@pytest.mark.django_db
def test_a_turn_is_refused_while_the_server_is_full(arena_project, labeler):
    client = client_for(labeler)
    battle = start(client, arena_project)
    with override_settings(PALATE_ARENA_MAX_STREAMS=0):
        refused = turn(client, battle, prompt="Hi")
    assert refused.status_code == 503 and refused.json()["code"] == "server_busy"
    assert not Turn.objects.exists()


@pytest.mark.django_db
def test_prompts_over_the_input_limit_are_refused(arena_project, labeler):
    arena_configure(project=arena_project, max_input_chars=10)
    client = client_for(labeler)
    battle = start(client, arena_project)
    refused = turn(client, battle, prompt="x" * 11)
    assert refused.status_code == 400 and refused.json()["field"] == "prompt"


@pytest.mark.django_db
def test_others_cannot_reach_a_battle(arena_project, labeler, labeler2, outsider, engineer):
    battle = start(client_for(labeler), arena_project)
    for person in (labeler2, outsider, engineer):
        client = client_for(person)
        assert turn(client, battle, prompt="Hi").status_code == 404
        assert vote(client, battle, strength=0).status_code == 404
        assert client.post(battle["urls"]["stop"]).status_code == 404
    assert client_for(outsider).get(reverse("arena", args=[arena_project.pk])).status_code == 404
    assert client_for(engineer).get(reverse("arena", args=[arena_project.pk])).status_code == 403
    assert client_for(labeler).get(
        reverse("arena-leaderboard", args=[arena_project.pk])).status_code == 403
    assert not Turn.objects.exists()


@pytest.mark.django_db
def test_writes_need_the_csrf_token(arena_project, labeler):
    client = client_for(labeler, enforce_csrf_checks=True)
    response = client.post(reverse("arena-battle-start", args=[arena_project.pk]), "{}",
                           content_type="application/json")
    assert response.status_code == 403
    assert not Battle.objects.exists()


@pytest.mark.django_db
def test_a_promoted_policy_joins_the_pool(arena_project, arena_model_dirs):
    spec = model_spec_register(name="loop-round-3", role=ModelRole.POLICY,
                               path=str(arena_model_dirs[0]), project=arena_project)[0]
    policy_promoted.send(sender=None, project=arena_project, spec=spec)
    assert PoolModel.objects.filter(arena=arena_project.arena, spec=spec, is_active=True).exists()


@pytest.mark.django_db
def test_leaderboard_and_recent_battles_pages(arena_project, admin, labeler):
    client = client_for(labeler)
    battle = start(client, arena_project)
    events_of(turn(client, battle, prompt="Hi"))
    vote(client, battle, strength=1, flagged_unsafe=True)
    staff = client_for(admin)
    board = staff.get(reverse("arena-leaderboard", args=[arena_project.pk])).content.decode()
    assert 'id="ratings"' in board and 'id="win-matrix"' in board and "style" in board.lower()
    recent = staff.get(reverse("arena-battles", args=[arena_project.pk]) + "?flagged=1")
    assert f'data-battle="{battle["id"]}"' in recent.content.decode()
    assert "flagged" in recent.content.decode()


@pytest.mark.django_db
def test_arena_setup_command_configures_the_pool(arena_project, arena_specs):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("arena_setup", arena_project.slug, f"{arena_specs[0].name}:3", "--max-turns", "4",
                 stdout=out)
    arena_project.arena.refresh_from_db()
    assert arena_project.arena.max_turns == 4
    assert PoolModel.objects.get(arena=arena_project.arena, spec=arena_specs[0]).weight == 3.0
    assert f"{arena_specs[0].name} (3)" in out.getvalue()
