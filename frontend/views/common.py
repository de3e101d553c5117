"""What the server-rendered project pages share: the permission-checked project
lookup (as HTTP errors) and the POST-action dispatch of their forms."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect

from annotation import access
from annotation.errors import DomainError, Forbidden, Invalid, NotFound
from annotation.models import Project


def project_for_page(request, project_id, need=access.CURATE) -> Project:
    """The project through the permission-checking lookup: not a member → 404,
    a role without ``need`` → 403."""
    try:
        return access.project_for_user(user=request.user, project_id=project_id, need=need)
    except NotFound:
        raise Http404("Project not found.") from None
    except Forbidden as error:
        raise PermissionDenied(error.message) from None


def post_action(request, project: Project, actions: dict[str, Callable], page: str) -> HttpResponseRedirect:
    """Run the form's ``action`` (one of ``actions``) and go back to ``page``
    (post/redirect/get). A domain error becomes a message on the page."""
    action = actions.get(request.POST.get("action"))
    if action is None:
        messages.error(request, "Unknown action.")
    else:
        try:
            action(request, project)
        except DomainError as error:
            messages.error(request, str(error))
    return redirect(page, project_id=project.pk)


def form_numbers(post, fields: dict[str, type], *, prefix: str = "") -> dict:
    """The filled-in numeric fields of a form, typed (``fields``: name → int or
    float); blank ones are left out. Invalid names a bad one as ``prefix + name``."""
    values: dict = {}
    for name, kind in fields.items():
        raw = (post.get(name) or "").strip()
        if not raw:
            continue
        try:
            values[name] = kind(raw)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise Invalid(f"must be {noun}", field=f"{prefix}{name}") from None
    return values
