"""The round report page of the training loop: is this round's gain real?

Admins and engineers of the project (access.CURATE). The numbers come from
training.loop.report, the same dict the API's round report returns.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotation import access
from frontend.views.common import project_for_page
from training.loop.report import loop_round_report
from training.loop.selectors import loop_round_of


def _percent(value):
    return None if value is None else 100 * value


def _judge_view(row: dict) -> dict:
    """Percentages for the template (it has no multiply filter)."""
    out = dict(row)
    for key in ("win_rate", "win_rate_low", "win_rate_high", "lc_win_rate", "lc_win_rate_low",
                "lc_win_rate_high"):
        out[key] = _percent(row.get(key))
    out["level"] = round(100 * (row.get("level") or 0.95))
    return out


@login_required
@require_GET
def loop_round_report_page(request, project_id: int, round_id: int):
    project = project_for_page(request, project_id, access.CURATE)
    rnd = loop_round_of(project=project, round_id=round_id)
    if rnd is None:
        raise Http404("Loop round not found.")
    report = loop_round_report(rnd=rnd)
    rule = report["decision"]["rule"] or {}
    context = {
        "project": project, "round": rnd, "report": report,
        "judges": [_judge_view(j) for j in report["judges"]],
        "truncated": _percent((report["evaluation"] or {}).get("policy_truncated")),
        "threshold": _percent(rule.get("threshold")),
        "api_url": reverse("api-loop-round-report", args=[project.pk, rnd.pk]),
    }
    return render(request, "frontend/loop_round_report.html", context)
