"""The data page of a project: what it holds, and uploading prompts,
comparison items or preference data with a preview first.

The page only renders; the file goes from the browser to the import API
(``POST /api/projects/{id}/imports/``, once with ``dry_run`` for the preview,
then for real), which calls the upload service — one path for scripts and
people.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotation import access
from annotation.api.views_imports import MAX_UPLOAD_BYTES
from annotation.datasets.readers import FORMATS
from annotation.models import ComparisonItem, Prompt
from annotation.services.uploads import KINDS
from frontend.views.common import project_for_page


@login_required
@require_GET
def data(request, project_id: int):
    project = project_for_page(request, project_id, need=access.CURATE)
    counts = ComparisonItem.objects.filter(project=project).aggregate(
        items=Count("pk"), labeled=Count("pk", filter=Q(submitted_count__gt=0)),
        gold=Count("pk", filter=Q(is_gold=True)))
    counts["prompts"] = Prompt.objects.filter(project=project).count()
    is_admin = access.project_role(user=request.user, project=project) == "admin"
    return render(request, "frontend/data.html", {
        "project": project, "counts": counts, "kinds": list(KINDS.items()), "formats": FORMATS,
        "max_mib": MAX_UPLOAD_BYTES // 2**20,
        "async_mib": round(settings.PALATE_UPLOAD_ASYNC_BYTES / 2**20, 1),
        "nav_admin": is_admin,
        "api_imports": reverse("api-imports", args=[project.pk])})
