"""The arena's leaderboard from its voted battles: Bradley–Terry ratings with
bootstrap intervals resampled by battle, the win-rate matrix and battle counts
between pairs, and the style-controlled ratings with the style coefficients."""

from __future__ import annotations

import numpy as np

from annotation.quality.leaderboard import leaderboard
from arena.models import Arena, Battle, BattleStatus
from arena.style import FEATURES, style_controlled_fit, style_features


def outcome_of(strength: int | None) -> float:
    """The score of A from the voter's label: A preferred 1, B preferred 0;
    a tie and "both bad" without a preference are ties (as Arena counts them)."""
    if strength is None or strength == 0:
        return 0.5
    return 1.0 if strength < 0 else 0.0


def _battles(arena: Arena):
    rows = (Battle.objects.filter(arena=arena, status=BattleStatus.VOTED, annotation__isnull=False)
            .select_related("model_a", "model_b", "annotation").prefetch_related("turns")
            .order_by("pk"))
    for battle in rows:
        if battle.annotation is None:  # excluded by the filter; this narrows the type
            continue
        turns = list(battle.turns.all())
        yield (battle.model_a.name, battle.model_b.name, outcome_of(battle.annotation.strength),
               "\n".join(t.text_a for t in turns), "\n".join(t.text_b for t in turns))


def arena_leaderboard(*, arena: Arena, n_resamples: int = 1000, seed: int = 0) -> dict:
    battles = list(_battles(arena))
    if not battles:
        return {"n_battles": 0, "rows": [], "models": [], "wins": [], "counts": [],
                "style": None}
    model_a, model_b, outcome, text_a, text_b = (list(column) for column in zip(*battles, strict=True))
    board = leaderboard(model_a=model_a, model_b=model_b, outcome=outcome,
                        n_resamples=n_resamples, seed=seed).as_dict()
    models = [row["model"] for row in board["rows"]]
    index = {m: i for i, m in enumerate(models)}
    score = np.zeros((len(models), len(models)))
    counts = np.zeros((len(models), len(models)), dtype=int)
    for a, b, y in zip(model_a, model_b, outcome, strict=True):
        i, j = index[a], index[b]
        score[i, j] += y
        score[j, i] += 1 - y
        counts[i, j] += 1
        counts[j, i] += 1
    wins = [[None if counts[i, j] == 0 else round(float(score[i, j] / counts[i, j]), 4)
             for j in range(len(models))] for i in range(len(models))]
    fa = np.array([[style_features(t)[f] for f in FEATURES] for t in text_a])
    fb = np.array([[style_features(t)[f] for f in FEATURES] for t in text_b])
    fit = style_controlled_fit(model_a=model_a, model_b=model_b, outcome=outcome,
                               features_a=fa, features_b=fb)
    controlled = dict(zip(fit.models, (float(r) for r in fit.ratings), strict=True))
    for row in board["rows"]:
        row["style_rating"] = controlled[row["model"]]
    return {**board, "models": models, "wins": wins, "counts": counts.tolist(),
            "style": {"coefficients": fit.coefficients,
                      "mean_length": {"a": float(fa[:, 0].mean()), "b": float(fb[:, 0].mean())}}}
