"""Reads: permission-checked battle lookup, what the browser may see of a
battle, recent battles for admins."""

from __future__ import annotations

from annotation import access
from annotation.errors import Invalid, NotFound
from annotation.models import Project
from annotation.validation import id_clean
from arena.models import Arena, Battle, BattleStatus


def battle_for_labeler(*, user, battle_id) -> Battle:
    """The user's own battle in a project where they may label; anything else
    (another labeler's battle, a project they left) is the same NotFound."""
    try:
        battle_id = id_clean(battle_id, field="battle")
    except Invalid:
        raise NotFound("battle not found", field="battle") from None
    battle = (Battle.objects.select_related("arena__project", "model_a", "model_b")
              .filter(pk=battle_id, user=user).first())
    if battle is None:
        raise NotFound("battle not found", field="battle")
    access.project_for_user(user=user, project_id=battle.arena.project_id, need=access.LABEL)
    return battle


def battle_public(battle: Battle) -> dict:
    """The battle as the browser sees it. Before the vote the models are only
    "Model A" and "Model B": no name, id or path of either is in here."""
    data = {
        "id": battle.pk, "status": battle.status, "error": battle.error,
        "max_turns": battle.arena.max_turns,
        "turns": [{"index": t.index, "prompt": t.user_text, "a": t.text_a, "b": t.text_b,
                   "status": t.status} for t in battle.turns.order_by("index")],
    }
    if battle.status == BattleStatus.VOTED:
        data["models"] = {"a": battle.model_a.name, "b": battle.model_b.name}
    return data


def battles_recent(*, arena: Arena, limit: int = 100, flagged_only: bool = False):
    rows = (Battle.objects.filter(arena=arena)
            .select_related("user", "model_a", "model_b", "annotation")
            .prefetch_related("turns").order_by("-created_at", "-pk"))
    if flagged_only:
        rows = rows.filter(annotation__flagged_unsafe=True)
    return list(rows[:limit])


def arena_of(project: Project) -> Arena | None:
    return Arena.objects.filter(project=project).first()
