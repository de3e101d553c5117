"""Dashboard figures beyond the agreement report: dataset health, agreement
over time and the model leaderboard. Database rows in, annotation.quality out."""

import math
from dataclasses import replace
from itertools import combinations

import numpy as np
from django.db.models import CharField, Count, OuterRef, Q, Subquery

from annotation.models import Annotation, ItemResponse, Project, TaskType
from annotation.quality.leaderboard import leaderboard
from annotation.quality.pairwise import outcome_for_a
from annotation.quality.trend import agreement_over_time

DAILY_UP_TO_DAYS = 45  # longer spans are shown per ISO week


def _labels(project: Project):
    return Annotation.objects.filter(project=project, item__is_gold=False)


def project_health(*, project: Project, report: dict) -> dict:
    """Ties, "both bad" and the bias figures: what preference training would amplify."""
    counts = _labels(project).aggregate(n=Count("pk"), both_bad=Count("pk", filter=Q(both_bad=True)))
    n = counts["n"]
    health = {"n_annotations": n, "both_bad_share": counts["both_bad"] / n if n else None}
    if project.task_type == TaskType.PAIRWISE:
        health |= {"tie_share": report.get("tie_share"),
                   "no_preference_share": report.get("no_preference_share"),
                   "position_bias": report.get("position_bias"),
                   "length_bias": report.get("length_bias")}
    else:
        rankings = list(_labels(project).filter(ranking__isnull=False).values_list("ranking", flat=True))
        health["tie_share"] = (sum(1 for r in rankings if len(set(r)) < len(r)) / len(rankings)
                               if rankings else None)
        # Pairs of each ranking decided for the response shown earlier (0.5 expected).
        health["position_bias"] = report.get("position_bias")
    return health


def _period(created, daily: bool) -> str:
    if daily:
        return created.date().isoformat()
    year, week, _ = created.isocalendar()
    return f"{year}-W{week:02d}"


def project_agreement_trend(*, project: Project) -> dict:
    """Agreement of the items finished in each day (or ISO week), oldest first:
    pairwise, nominal alpha on A / tie / B; ranking, ordinal alpha on ranks (each
    (item, response) a unit, as the headline figure). The measure's name is in
    annotation.task_measures."""
    level = "nominal"
    if project.task_type == TaskType.PAIRWISE:
        rows = [(i, la, (s > 0) - (s < 0), c) for i, la, s, c in _labels(project).filter(
            strength__isnull=False).values_list("item_id", "labeler_id", "strength", "created_at")]
    else:
        level = "ordinal"
        rows = [(f"{i}:{k}", la, rank, c) for i, la, r, c in _labels(project).filter(
            ranking__isnull=False).values_list("item_id", "labeler_id", "ranking", "created_at")
            for k, rank in enumerate(r)]
    if not rows:
        return {"granularity": "day", "periods": []}
    first, last = min(r[3] for r in rows), max(r[3] for r in rows)
    daily = (last - first).days <= DAILY_UP_TO_DAYS
    periods = agreement_over_time(items=[r[0] for r in rows], labelers=[r[1] for r in rows],
                                  labels=[r[2] for r in rows],
                                  periods=[_period(r[3], daily) for r in rows], level=level)
    if level == "ordinal":
        # Units are (item, response): count items, not units.
        k = project.num_responses
        periods = [replace(p, n_items=p.n_items // k, n_annotations=p.n_annotations // k)
                   for p in periods]
    return {"granularity": "day" if daily else "week", "periods": [p.as_dict() for p in periods]}


def _model(position: int):
    names = ItemResponse.objects.filter(item=OuterRef("item_id"), position=position)
    return Subquery(names.values("response__model_name")[:1], output_field=CharField())


def _battles(project: Project) -> tuple[list[str], list[str], list[float]]:
    """One battle per labeled pair of responses from two different, named models."""
    model_a: list[str] = []
    model_b: list[str] = []
    outcome: list[float] = []
    if project.task_type == TaskType.PAIRWISE:
        rows = [(a, b, s) for a, b, s in _labels(project).filter(strength__isnull=False).annotate(
            a=_model(0), b=_model(1)).values_list("a", "b", "strength") if a and b and a != b]
        if rows:
            model_a, model_b = [r[0] for r in rows], [r[1] for r in rows]
            outcome = outcome_for_a(np.array([r[2] for r in rows], dtype=np.float64)).tolist()
        return model_a, model_b, outcome
    names: dict[int, dict[int, str]] = {}
    for item_id, position, name in ItemResponse.objects.filter(
            item__project=project, item__is_gold=False).values_list(
            "item_id", "position", "response__model_name"):
        names.setdefault(item_id, {})[position] = name
    for item_id, ranking in _labels(project).filter(ranking__isnull=False).values_list(
            "item_id", "ranking"):
        slots = names.get(item_id, {})
        for i, j in combinations(range(len(ranking)), 2):
            a, b = slots.get(i), slots.get(j)
            if a and b and a != b:
                model_a.append(a)
                model_b.append(b)
                outcome.append(1.0 if ranking[i] < ranking[j] else 0.0 if ranking[i] > ranking[j] else 0.5)
    return model_a, model_b, outcome


def project_model_leaderboard(*, project: Project, n_resamples: int = 200, seed: int = 0) -> dict:
    """Bradley–Terry ratings of the models whose responses were compared, with
    bootstrap 95% intervals (Chatbot Arena's scale: mean 1000, 400 per decade)."""
    model_a, model_b, outcome = _battles(project)
    if len(set(model_a) | set(model_b)) < 2:
        return {"n_battles": len(outcome), "rows": []}
    board = leaderboard(model_a=model_a, model_b=model_b, outcome=outcome,
                        n_resamples=n_resamples, seed=seed).as_dict()
    for row in board["rows"]:
        for key in ("rating", "ci_low", "ci_high", "win_rate"):
            row[key] = None if math.isnan(row[key]) else round(row[key], 3)
    return board


def labeler_rows(report: dict) -> list[dict]:
    """The annotator table (dashboard and API): the report's per-labeler figures
    with gold accuracy joined in; flagged labelers last, then the most reliable
    (ranking: consensus weight) and the most annotations first."""
    gold = (report.get("gold") or {}).get("labelers") or {}
    rows = []
    for row in report.get("labelers") or []:
        name = row.get("username")
        flags = list(row.get("flags") or [])
        rows.append({
            "username": name, "n": row.get("n"),
            "gold_n": gold.get(name, {}).get("n", 0),
            "gold_accuracy": gold.get(name, {}).get("accuracy"),
            "loo_agreement": row.get("loo_agreement"), "loo_kappa": row.get("loo_kappa"),
            "median_seconds": row.get("median_seconds"), "too_fast": "too_fast" in flags,
            "first_share": row.get("first_share"), "longer_share": row.get("longer_share"),
            "ds_accuracy": row.get("ds_accuracy"),
            "ds_informativeness": row.get("ds_informativeness"),
            "first_z": row.get("first_z"), "reliability": row.get("reliability"), "flags": flags,
        })
    return sorted(rows, key=lambda r: (bool(r["flags"]), -(r["reliability"] or 0), -(r["n"] or 0),
                                       r["username"] or ""))
