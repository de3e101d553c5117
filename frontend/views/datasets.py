"""Dataset snapshots of a project, for its admins and engineers: list, build, export.

Plain forms posting back here (CSRF-protected); the work is done by the same
services the API calls, on a Celery worker.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from annotation import access
from annotation.datasets.writers import writer_choices
from annotation.models import DatasetExport, DatasetSnapshot, Membership
from annotation.services.datasets import dataset_snapshot_request
from annotation.services.exports import dataset_export_request
from annotation.task_types import consensus_choices
from frontend.views.common import post_action, project_for_page


def _project(request, project_id):
    return project_for_page(request, project_id)


def _build(request, project) -> None:
    filters = {"consensus": request.POST.get("consensus") or None,
               "ties": request.POST.get("ties", "drop"),
               "both_bad": request.POST.get("both_bad", "drop"),
               "exclude_labelers": request.POST.getlist("exclude_labelers")}
    try:
        filters["min_agreement"] = float(request.POST.get("min_agreement") or 0)
    except ValueError:
        messages.error(request, "Minimum agreement must be a number from 0 to 1.")
        return
    try:
        filters["min_labels"] = int(request.POST.get("min_labels") or 1)
    except ValueError:
        messages.error(request, "Minimum labels must be a whole number of at least 1.")
        return
    snapshot = dataset_snapshot_request(project=project, filters=filters, created_by=request.user)
    messages.success(request, f"Snapshot v{snapshot.version} is being built.")


def _export(request, project) -> None:
    snapshot = DatasetSnapshot.objects.filter(project=project,
                                              pk=request.POST.get("snapshot") or 0).first()
    if snapshot is None:
        raise Http404("Snapshot not found.")
    dataset_export_request(snapshot=snapshot, fmt=request.POST.get("format", "trl"),
                           style=request.POST.get("style", "conversational"),
                           created_by=request.user)
    messages.success(request, f"Export of v{snapshot.version} queued.")


def filters_summary(filters: dict) -> list[str]:
    """Every filter of a snapshot in words, defaults included, so two snapshots
    whose filters differ never look alike on the page."""
    parts = [f"consensus {filters.get('consensus', 'majority')}",
             f"agreement ≥ {filters.get('min_agreement', 0)}",
             f"labels ≥ {filters.get('min_labels', 1)}",
             f"ties {filters.get('ties', 'drop')}",
             f"both bad {filters.get('both_bad', 'drop')}"]
    excluded = filters.get("exclude_labelers") or []
    parts.append(f"excluding {', '.join(excluded)}" if excluded else "no labeler excluded")
    if not filters.get("include_model_labels", True):
        parts.append("no AI-judge labels")
    if filters.get("date_from"):
        parts.append(f"from {filters['date_from']}")
    if filters.get("date_to"):
        parts.append(f"to {filters['date_to']}")
    return parts


@login_required
@require_http_methods(["GET", "POST"])
def datasets(request, project_id: int):
    project = _project(request, project_id)
    if request.method == "POST":
        return post_action(request, project, {"build": _build, "export": _export}, "datasets")
    snapshots = list(DatasetSnapshot.objects.filter(project=project).order_by("-version")[:50])
    exports: dict[int, list] = {}
    for export in DatasetExport.objects.filter(snapshot__in=snapshots).order_by("-pk"):
        exports.setdefault(export.snapshot_id, []).append(export)
    rows = [{"snapshot": s, "exports": exports.get(s.pk, []), "filters": filters_summary(s.filters)}
            for s in snapshots]
    # Labelers a snapshot can leave out: the project's members who label.
    labelers = list(Membership.objects.filter(project=project, role__in=access.LABEL)
                    .order_by("user__username").values_list("user__username", flat=True))
    return render(request, "frontend/datasets.html",
                  {"project": project, "rows": rows, "labelers": labelers,
                   "consensus_choices": consensus_choices(project), "export_formats": writer_choices()})
