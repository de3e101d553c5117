"""Creating and configuring a project in the browser: "New project", the
settings page (edit, archive, delete) and the Markdown preview both use.

Plain forms posting back (CSRF-protected), thin: the form parses, the
services in ``annotation.services.projects`` decide and audit — the same ones
the API calls.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from annotation import access
from annotation.errors import DomainError
from annotation.models import Membership, default_criteria
from annotation.services import projects as project_services
from annotation.task_types import task_type_of
from frontend.project_forms import ProjectForm, criteria_to_text
from frontend.rendering import markdown_render
from frontend.views.common import project_for_page

# The preview renders what the admin is typing; guidelines longer than this
# are still saved, the preview just says so.
PREVIEW_MAX_CHARS = 100_000


def _form_error(form: ProjectForm, error: DomainError) -> None:
    """A service's refusal shown at its field (or above the form)."""
    field = error.field.split("[")[0] if error.field else None
    form.add_error(field if field in form.fields else None, error.message)


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request):
    if not access.project_can_create(user=request.user):
        raise PermissionDenied("Only site administrators and users allowed to create projects do.")
    # New projects start with the default rating criteria, as the API does.
    form = ProjectForm(request.POST or None, initial={"criteria": criteria_to_text(default_criteria())})
    if request.method == "POST" and form.is_valid():
        try:
            project = project_services.project_create(creator=request.user, **form.values())
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, f"Project “{project.name}” created. Add data next.")
            return redirect("project-settings", project_id=project.pk)
    return render(request, "frontend/project_new.html", {"form": form,
                                                         "preview_url": reverse("markdown-preview")})


def _save(request, project):
    form = ProjectForm(request.POST, locked=project_services.project_locked_fields(project=project),
                       initial=ProjectForm.initial_for(project))
    if not form.is_valid():
        return form
    try:
        project_services.project_update(project=project, actor=request.user, **form.values())
    except DomainError as error:
        _form_error(form, error)
        return form
    messages.success(request, "Settings saved.")
    return None


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, project_id: int):
    project = project_for_page(request, project_id, need=access.MANAGE)
    action = request.POST.get("action") if request.method == "POST" else None
    form = None
    if action == "save":
        form = _save(request, project)
        if form is None:
            return redirect("project-settings", project_id=project.pk)
        project.refresh_from_db()
    elif action in ("archive", "unarchive"):
        project_services.project_set_archived(project=project, archived=action == "archive",
                                              actor=request.user)
        messages.success(request, "Project archived: it hands out no items."
                         if action == "archive" else "Project is back: labelers get items again.")
        return redirect("project-settings", project_id=project.pk)
    elif action == "delete":
        try:
            project_services.project_delete(project=project, actor=request.user,
                                            confirm=request.POST.get("confirm", ""))
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("project-settings", project_id=project.pk)
        messages.success(request, f"Project “{project.name}” deleted.")
        return redirect("home")
    elif action is not None:
        messages.error(request, "Unknown action.")
        return redirect("project-settings", project_id=project.pk)
    locked = project_services.project_locked_fields(project=project)
    if form is None:
        form = ProjectForm(initial=ProjectForm.initial_for(project), locked=locked)
    return render(request, "frontend/project_settings.html", {
        "project": project, "form": form, "locked": locked, "nav_admin": True,
        "preview_url": reverse("markdown-preview"), "head_to_head": task_type_of(project).head_to_head,
        "guidelines_html": markdown_render(project.guidelines)})


@login_required
@never_cache
@require_POST
def markdown_preview(request):
    """Guidelines as labelers will see them: the same sanitizer as the label
    page. POST because the text can be long; CSRF applies."""
    if not (access.project_can_create(user=request.user)
            or Membership.objects.filter(user=request.user, role__in=access.MANAGE).exists()):
        raise PermissionDenied("Only project admins preview guidelines.")
    text = request.POST.get("text", "")
    if len(text) > PREVIEW_MAX_CHARS:
        return JsonResponse({"html": "", "detail": "Too long to preview; it will still be saved."})
    return JsonResponse({"html": markdown_render(text)})
