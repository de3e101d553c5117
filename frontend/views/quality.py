"""The quality dashboard of a project, for its admins and engineers.

Reads the stored figures (ProjectQuality, ItemConsensus) computed by the
recompute service; admins can adjudicate disputed items and ask for a
recompute here (plain CSRF-protected forms; quality.js sends adjudications
through the API instead, without a reload). Prompts, responses and names are
untrusted and rendered only as auto-escaped text.
"""

from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from annotation import access
from annotation.errors import NotFound
from annotation.models import Annotation, ItemConsensus, Project, Role
from annotation.services.adjudication import item_adjudicate
from annotation.services.quality_figures import labeler_rows
from annotation.services.quality_recompute import (
    debounce_seconds,
    project_quality_current,
    project_quality_request,
)
from annotation.task_types import consensus_choices, task_type_of
from frontend.charts import heatmap_svg, trend_svg
from frontend.views.common import post_action, project_for_page

# The low-agreement queue is shown a page at a time: each entry holds a prompt
# and every response, so the whole queue inline made the page thousands of px tall.
QUEUE_PAGE_SIZE = 10
TEXT_PREVIEW = 600
STRENGTH_CHOICES = [(-2, "A much better"), (-1, "A better"), (0, "Tie"), (1, "B better"),
                    (2, "B much better")]


def _project(request, project_id, need=access.CURATE) -> Project:
    return project_for_page(request, project_id, need)


def _adjudicate(request, project: Project) -> None:
    try:
        item = access.item_for_user(user=request.user, project=project, item_id=request.POST.get("item"))
    except NotFound:
        raise Http404("Item not found.") from None
    data: dict = {"note": request.POST.get("note", "")}
    data |= task_type_of(project).decision_from_form(request.POST)
    item_adjudicate(project=project, item=item, decided_by=request.user, data=data)
    messages.success(request, f"Item {item.pk} decided.")


def _recompute(request, project: Project) -> None:
    project_quality_request(project=project, method=request.POST.get("method") or None,
                            actor=request.user)
    messages.success(request, "Recompute queued; reload in a moment for the new figures.")


def _votes(items: list[int], project: Project) -> dict[int, str]:
    """A short summary of each queued item's labels, e.g. "A ×2 · B ×1"."""
    task = task_type_of(project)
    counts: dict[int, Counter] = {}
    for row in Annotation.objects.filter(item_id__in=items).values(
            "item_id", "strength", "ranking", "feedback"):
        key = task.choice(row) or task.no_choice
        counts.setdefault(row["item_id"], Counter())[key] += 1
    return {i: " · ".join(f"{k} ×{n}" for k, n in sorted(c.items())) for i, c in counts.items()}


def _queue(project: Project, page_number) -> tuple[list[dict], Page]:
    """One page of the low-agreement queue, weakest first (an out-of-range or
    malformed page number gives the nearest page)."""
    queryset = (ItemConsensus.objects.filter(project=project, needs_adjudication=True)
                .select_related("item__prompt").prefetch_related("item__slots__response")
                .order_by("confidence", "item_id"))
    page = Paginator(queryset, QUEUE_PAGE_SIZE).get_page(page_number)
    rows = list(page.object_list)
    votes = _votes([r.item_id for r in rows], project)
    entries = [{"consensus": r, "prompt": r.item.prompt.text[:TEXT_PREVIEW],
                "responses": [(chr(ord("A") + s.position), s.response.text[:TEXT_PREVIEW],
                               s.response.model_name) for s in r.item.slots.all()],
                "votes": votes.get(r.item_id, ""),
                "api_url": reverse("api-adjudicate", args=[project.pk, r.item_id])} for r in rows]
    return entries, page


def _heatmap(report: dict, measures):
    figure = report.get(measures.heatmap_key) or {}
    names = [str(n) for n in figure.get("labelers") or []]
    matrix = figure.get("nominal") or []
    if not (names and matrix):
        return None
    return heatmap_svg(names=names, matrix=matrix,
                       title=f"{measures.heatmap_measure}, each pair of annotators")


@login_required
@require_http_methods(["GET", "POST"])
def quality(request, project_id: int):
    project = _project(request, project_id)
    if request.method == "POST":
        project = _project(request, project_id, need=access.MANAGE)
        return post_action(request, project, {"adjudicate": _adjudicate, "recompute": _recompute},
                           "quality")
    state = project_quality_current(project=project)
    report = state.report
    trend = report.get("trend") or {"periods": []}
    role = access.project_role(user=request.user, project=project)
    queue, queue_page = _queue(project, request.GET.get("queue_page"))
    task = task_type_of(project)
    measures = task.measures
    context = {
        "project": project, "state": state, "report": report, "task": task,
        "labelers": labeler_rows(report), "heatmap": _heatmap(report, measures),
        "trend": trend, "trend_chart": trend_svg(periods=trend["periods"]),
        "health": report.get("health") or {}, "consensus": report.get("consensus") or {},
        "leaderboard": report.get("leaderboard") or {"rows": []},
        "queue": queue, "queue_page": queue_page, "can_manage": role == Role.ADMIN,
        "strength_choices": STRENGTH_CHOICES, "methods": consensus_choices(project),
        "measures": measures,
        "consensus_label": measures.consensus.get((report.get("consensus") or {}).get("method")),
        "debounce_seconds": debounce_seconds(),
        "recompute_pending": bool(state.recompute_due_at and state.recompute_due_at > timezone.now()),
    }
    return render(request, "frontend/quality.html", context)
