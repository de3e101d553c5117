"""Labeler pages. Thin: check access, read, render. The labeling itself goes
through the REST API (next, submit, skip) from ``static/frontend/js``."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotation import access
from annotation.errors import Forbidden, NotFound
from annotation.task_types import task_type_of
from frontend import selectors
from frontend.rendering import markdown_render

# Pairwise choices in the labeler's frame (left response is "A"); the page
# maps them to the canonical order of the lease before submitting.
SCALE = [
    (-2, "A much better", "1"),
    (-1, "A better", "2"),
    (0, "Tie", "3"),
    (1, "B better", "4"),
    (2, "B much better", "5"),
]


@login_required
@require_GET
def home(request):
    """My projects: done today and in total, what remains for me, Start."""
    return render(request, "frontend/home.html",
                  {"rows": selectors.labeler_home_rows(user=request.user),
                   "can_create": access.project_can_create(user=request.user)})


@login_required
@require_GET
def label(request, project_id: int):
    """The labeling page of one project; its task type supplies the judgement
    section (template) and the ES module that drives it."""
    try:
        project = access.project_for_user(user=request.user, project_id=project_id,
                                          need=access.LABEL)
    except NotFound:
        raise Http404("Project not found.") from None
    except Forbidden as error:
        raise PermissionDenied(error.message) from None
    letters = [chr(ord("A") + i) for i in range(project.num_responses)]
    counts = selectors.labeler_counts(user=request.user, project_ids=[project.pk])
    context = {
        "project": project,
        "task": task_type_of(project),
        "letters": letters,
        "scale": [s for s in SCALE if s[0] != 0 or project.allow_ties],
        "criteria": [
            {**c, "label": c.get("label") or c["name"], "mid": (c["min"] + c["max"]) // 2}
            for c in project.criteria or []
        ],
        "guidelines_html": markdown_render(project.guidelines),
        "done_today": counts.get(project.pk, {}).get("today", 0),
        # Why the queue may be empty, as of this page load (the page also says
        # so when the last item goes).
        "empty_reason": selectors.queue_empty_reason(project=project, labeler=request.user),
        "urls": {
            "next": reverse("api-next", args=[project.pk]),
            "submit": reverse("api-submit", args=[0]),
            "skip": reverse("api-skip", args=[0]),
            "content": reverse("label-content", args=[0]),
            "state": reverse("label-state", args=[0]),
        },
    }
    return render(request, "frontend/label.html", context)
