"""Drawing the next pair from an arena's pool, and the pool's reaction to the loop."""

from __future__ import annotations

import logging
import random

from django.db.models import Count

from annotation.errors import Conflict
from arena.models import Arena, Battle, BattleStatus, PoolModel
from arena.sampling import pair_key, pair_next
from generation.models import ModelSpec
from generation.services.registry import model_specs_usable

logger = logging.getLogger(__name__)


def pool_weights(*, arena: Arena) -> dict[int, float]:
    """Usable, active pool models (id → weight): a model deactivated in the
    registry or no longer usable by the project drops out of the draw."""
    usable = model_specs_usable(project=arena.project).values("pk")
    rows = PoolModel.objects.filter(arena=arena, is_active=True, spec__in=usable)
    return dict(rows.values_list("spec_id", "weight"))


def pair_counts(*, arena: Arena) -> dict[tuple, int]:
    """Battles per unordered pair, failed ones left out (they are not counted anywhere)."""
    rows = (Battle.objects.filter(arena=arena).exclude(status=BattleStatus.FAILED)
            .values("model_a_id", "model_b_id").annotate(n=Count("pk")))
    counts: dict[tuple, int] = {}
    for row in rows:
        key = pair_key(row["model_a_id"], row["model_b_id"])
        counts[key] = counts.get(key, 0) + row["n"]
    return counts


def pool_draw(*, arena: Arena, rng: random.Random | None = None) -> tuple[ModelSpec, ModelSpec]:
    """(model A, model B) for a new battle, balancing battles across pairs."""
    weights = pool_weights(arena=arena)
    try:
        a, b = pair_next(weights=weights, counts=pair_counts(arena=arena), rng=rng)
    except ValueError as error:
        raise Conflict(f"the arena cannot start a battle: {error}", field="pool") from None
    specs = ModelSpec.objects.in_bulk([a, b])
    return specs[a], specs[b]


def on_policy_promoted(sender, *, project, spec, **kwargs) -> None:
    """The loop promoted ``spec`` in ``project``: it joins that project's arena
    pool (weight 1) when the arena asks for promoted policies."""
    arena = Arena.objects.filter(project=project, join_promoted=True).first()
    if arena is None:
        return
    PoolModel.objects.update_or_create(arena=arena, spec=spec,
                                       defaults={"is_active": True})
    logger.info("arena of project %s: promoted policy %s joined the pool", project.pk, spec.name)
