"""A vote turns a battle into data: an ordinary pairwise comparison item (the
first user turn as its prompt, each model's side of the conversation as a
response, with model names, sampling and every turn) and the voter's
annotation, recorded through the same submit service as every label.

The voter's label does not use up the item's overlap: their assignment is
recorded without taking a queue slot, so the project's overlap counts only
the other labelers who may be asked to label the same battle later.

Multi-turn: the response's text is its side of the conversation after the
first prompt in the Anthropic HH layout ("answer\n\nHuman: …\n\nAssistant: …",
what text-style TRL rows continue), and ``metadata["messages"]`` holds the
same as messages (assistant, user, assistant, …), which the conversational
exports write as the completion.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Assignment, AssignmentStatus, Prompt
from annotation.services.items import ResponseInput, item_create
from annotation.services.prompts import PromptInput, prompt_create_many
from annotation.services.submissions import annotation_submit
from arena.models import Battle, BattleStatus, Turn, TurnStatus


def side_messages(turns: list[Turn], side: str) -> list[dict]:
    """One model's completion after the first prompt, as messages."""
    messages = []
    for index, turn in enumerate(turns):
        if index:
            messages.append({"role": "user", "content": turn.user_text})
        messages.append({"role": "assistant", "content": getattr(turn, f"text_{side}")})
    return messages


def side_text(messages: list[dict]) -> str:
    names = {"user": "Human", "assistant": "Assistant"}
    text = messages[0]["content"]
    for message in messages[1:]:
        text += f"\n\n{names[message['role']]}: {message['content']}"
    return text


def _response(battle: Battle, turns: list[Turn], side: str) -> ResponseInput:
    spec = getattr(battle, f"model_{side}")
    messages = side_messages(turns, side)
    per_turn = [{"user": t.user_text, "text": getattr(t, f"text_{side}"),
                 "tokens": getattr(t, f"tokens_{side}"), "finish": getattr(t, f"finish_{side}"),
                 "ttft_ms": getattr(t, f"ttft_{side}_ms")} for t in turns]
    metadata: dict[str, object] = {"arena": {"battle": battle.pk, "side": side.upper(), "turns": per_turn}}
    if len(turns) > 1:
        metadata["messages"] = messages
    return ResponseInput(text=side_text(messages), model_name=spec.name,
                         sampling=battle.sampling, metadata=metadata)


def battle_vote(*, battle: Battle, data: dict) -> Battle:
    """Record the labeler's vote (the pairwise scale in the A/B frame shown:
    strength −2 … 2, both_bad, rationale, flagged_unsafe). Returns the battle,
    whose model names may now be shown."""
    with transaction.atomic():
        battle = Battle.objects.select_for_update().select_related(
            "arena__project", "model_a", "model_b").get(pk=battle.pk)
        if battle.status != BattleStatus.ACTIVE:
            raise Conflict(f"this battle is {battle.get_status_display().lower()}; it takes no vote",
                           field="battle")
        turns = list(battle.turns.order_by("index"))
        if not turns:
            raise Conflict("ask the models something first", field="battle")
        if any(t.status == TurnStatus.STREAMING for t in turns):
            raise Conflict("the models are still answering; wait or stop them", field="battle")
        for turn in turns:
            for side in ("a", "b"):
                if not getattr(turn, f"text_{side}").strip():
                    raise Conflict(f"model {side.upper()} has no answer in turn {turn.index + 1}; "
                                   "regenerate it", field="battle")
        project = battle.arena.project
        first = [{"role": "user", "content": turns[0].user_text}]
        prompt_id = prompt_create_many(project=project, entries=[PromptInput(
            messages=first, metadata={"source": "arena"})]).ids[0]
        prompt = Prompt.objects.get(pk=prompt_id)
        item = item_create(project=project, prompt=prompt,
                           responses=[_response(battle, turns, "a"), _response(battle, turns, "b")])
        now = timezone.now()
        # The voter's lease: recorded, not taken from the queue (see the module docstring).
        assignment = Assignment.objects.create(
            project=project, item=item, labeler=battle.user, status=AssignmentStatus.LEASED,
            display_order=[0, 1], leased_at=battle.created_at, expires_at=now + timedelta(
                seconds=project.lease_seconds))
        elapsed = int((now - battle.created_at).total_seconds() * 1000)
        annotation, _ = annotation_submit(
            assignment=assignment, idempotency_key=f"arena-battle-{battle.pk}",
            data={**data, "time_on_task_ms": min(elapsed, 2**31 - 1)})
        battle.status, battle.item, battle.annotation = BattleStatus.VOTED, item, annotation
        battle.finished_at = now
        battle.save(update_fields=["status", "item", "annotation", "finished_at"])
    return battle
