"""The arena in real Chromium: a labeler holds a two-turn battle with two real
(tiny, random) models generating on the CPU and streaming token by token,
votes with the keyboard, and sees the models revealed; the battle is then an
ordinary label: the normal queue hands it to a second labeler (not back to the
voter), the agreement report counts both labels, and the TRL export has the
whole conversation."""

import json

import pytest

from annotation.datasets.writers import export_write
from annotation.models import Annotation, Role
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.quality import project_agreement_report
from annotation.services.queue import item_claim_next
from annotation.services.submissions import annotation_submit
from arena.models import Battle, BattleStatus
from arena.services.config import arena_configure, pool_add
from generation.models import ModelRole
from generation.services.registry import model_spec_register
from tests.browser.helpers import log_in, user
from tests.factories import member_add, project_make
from tests.generation.tiny_model import tiny_model_save

pytestmark = pytest.mark.django_db(transaction=True)

# Records every text an answer shows while it is still streaming.
WATCH = """
window.__partials = {a: [], b: []};
new MutationObserver(() => {
  for (const side of ["a", "b"]) {
    const answers = document.querySelectorAll(`.arena-side[data-side=${side}] [data-answer]`);
    const last = answers[answers.length - 1];
    if (last && last.classList.contains("streaming") && last.textContent) {
      const seen = window.__partials[side];
      if (seen[seen.length - 1] !== last.textContent) seen.push(last.textContent);
    }
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    # Deeper than the unit tests' model (a few ms a token), so a stream lasts
    # long enough for the page to show it growing.
    root = tmp_path_factory.mktemp("arena-browser")
    return [tiny_model_save(root / f"m{seed}", seed=seed, hidden=256, layers=8) for seed in (0, 1)]


def wait_turn_done(page, turn: int) -> None:
    for side in "ab":
        page.wait_for_selector(
            f".arena-side[data-side={side}] .arena-turn:nth-child({turn}) [data-answer][data-finish]",
            timeout=60_000)
    page.wait_for_selector("#arena-app[data-state=idle]")


def test_a_streamed_two_turn_battle_voted_by_keyboard(page, live_app, model_dirs, tmp_path):
    owner, lena, liam = user("arena_admin"), user("arena_lena"), user("arena_liam")
    project = project_make(creator=owner, name="Arena demo", overlap=2)
    member_add(project, lena, Role.LABELER)
    member_add(project, liam, Role.LABELER)
    names = []
    arena = arena_configure(project=project, max_turns=2, max_output_tokens=24,
                            sampling={"temperature": 1.0})
    for i, folder in enumerate(model_dirs):
        spec = model_spec_register(name=f"secret-model-{i}", role=ModelRole.POLICY, path=str(folder))[0]
        pool_add(arena=arena, name=spec.name)
        names.append(spec.name)

    log_in(page, live_app, "arena_lena", next_path=f"/projects/{project.pk}/arena/")
    page.wait_for_selector("#arena-app[data-ready=true]")
    page.evaluate(WATCH)
    page.locator("#prompt").fill("Name a river")
    page.keyboard.press("Enter")
    wait_turn_done(page, 1)
    partials = page.evaluate("window.__partials")
    for side in "ab":  # the answer grew on the page before it was complete
        assert len(set(partials[side])) >= 2, partials
        assert partials[side][-1].startswith(partials[side][0])  # it grew; nothing was replaced

    page.locator("#prompt").fill("And a mountain?")
    page.keyboard.press("Enter")
    wait_turn_done(page, 2)
    html = page.content()
    assert not any(name in html for name in names)  # still anonymous
    assert page.locator("#prompt").is_disabled()  # two turns: vote now

    page.keyboard.press("Escape")  # leave any text box; then the vote keys
    page.keyboard.press("2")  # A better
    page.keyboard.press("Enter")
    page.wait_for_selector("#revealed:not([hidden])")
    battle = Battle.objects.get(arena=arena)
    shown = {side: page.locator(f".arena-side[data-side={side}] [data-name]").inner_text()
             for side in "ab"}
    assert shown == {"a": f": {battle.model_a.name}", "b": f": {battle.model_b.name}"}
    assert page.evaluate("window.__cspViolations") == []

    assert battle.status == BattleStatus.VOTED and battle.turns.count() == 2
    vote = Annotation.objects.get(item=battle.item)
    assert (vote.labeler, vote.strength) == (lena, -1)

    # The same battle through the normal queue: to the second labeler, not the voter.
    assert item_claim_next(project=project, labeler=lena) is None
    lease = item_claim_next(project=project, labeler=liam)
    assert lease.item_id == battle.item_id
    annotation_submit(assignment=lease, data={"strength": -2}, idempotency_key="arena-relabel-1")
    report = project_agreement_report(project=project, n_resamples=10)
    assert report["n_annotations"] == 2

    snapshot = dataset_snapshot_build(project=project)
    export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "trl", style="conversational")
    rows = [json.loads(line) for path in (tmp_path / "trl").glob("*.jsonl")
            for line in path.read_text().splitlines() if line.strip()]
    (row,) = rows
    turns = list(battle.turns.order_by("index"))
    assert row["prompt"] == [{"role": "user", "content": "Name a river"}]
    assert row["chosen"] == [{"role": "assistant", "content": turns[0].text_a},
                             {"role": "user", "content": "And a mountain?"},
                             {"role": "assistant", "content": turns[1].text_a}]
