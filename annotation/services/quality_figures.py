"""Dashboard figures beyond the agreement report: dataset health, agreement
over time and the model leaderboard. Database rows in, annotation.quality out."""

import math
from dataclasses import replace

from django.db.models import Count, Q

from annotation.models import Annotation, Project
from annotation.quality.leaderboard import leaderboard
from annotation.quality.trend import agreement_over_time
from annotation.task_types import task_type_of

DAILY_UP_TO_DAYS = 45  # longer spans are shown per ISO week


def _labels(project: Project):
    return Annotation.objects.filter(project=project, item__is_gold=False)


def project_health(*, project: Project, report: dict) -> dict:
    """Ties, "both bad" and the bias figures: what preference training would amplify."""
    counts = _labels(project).aggregate(n=Count("pk"), both_bad=Count("pk", filter=Q(both_bad=True)))
    n = counts["n"]
    health = {"n_annotations": n, "both_bad_share": counts["both_bad"] / n if n else None}
    health |= task_type_of(project).health(project, _labels(project), report)
    return health


def _period(created, daily: bool) -> str:
    if daily:
        return created.date().isoformat()
    year, week, _ = created.isocalendar()
    return f"{year}-W{week:02d}"


def project_agreement_trend(*, project: Project) -> dict:
    """Agreement of the items finished in each day (or ISO week), oldest first:
    pairwise, nominal alpha on A / tie / B; ranking, ordinal alpha on ranks (each
    (item, response) a unit, as the headline figure); feedback, nominal alpha on
    up / down. The task type gives the rows; its measure's name is in its
    TaskMeasures (annotation.task_types)."""
    rows, level, units = task_type_of(project).trend_rows(project, _labels(project))
    if not rows:
        return {"granularity": "day", "periods": []}
    first, last = min(r[3] for r in rows), max(r[3] for r in rows)
    daily = (last - first).days <= DAILY_UP_TO_DAYS
    periods = agreement_over_time(items=[r[0] for r in rows], labelers=[r[1] for r in rows],
                                  labels=[r[2] for r in rows],
                                  periods=[_period(r[3], daily) for r in rows], level=level)
    if units != 1:
        # Units are (item, response): count items, not units.
        periods = [replace(p, n_items=p.n_items // units, n_annotations=p.n_annotations // units)
                   for p in periods]
    return {"granularity": "day" if daily else "week", "periods": [p.as_dict() for p in periods]}


def project_model_leaderboard(*, project: Project, n_resamples: int = 200, seed: int = 0) -> dict:
    """Bradley–Terry ratings of the models whose responses were compared, with
    bootstrap 95% intervals (Chatbot Arena's scale: mean 1000, 400 per decade)."""
    model_a, model_b, outcome = task_type_of(project).battles(project, _labels(project))
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
