"""The team page of a project (its admins): members and roles, invite links,
and per-member progress with a CSV download; and the public page an invite
link opens.

Thin: the services in ``annotation.services.projects`` and ``.invites`` check
and audit; the API calls the same ones.
"""

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from annotation import access
from annotation.errors import DomainError, NotFound
from annotation.models import Invite, Role
from annotation.services import invites as invite_services
from annotation.services import projects as project_services
from annotation.team_progress import SORT_KEYS, team_progress
from frontend.views.common import project_for_page

CSV_COLUMNS = ("username", "role", "today", "week", "total", "median_seconds", "agreement",
               "gold_n", "gold_accuracy", "remaining", "live_leases")


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _membership(project, request):
    return access.membership_for_admin(project=project, membership_id=request.POST.get("membership"))


def _act(request, project) -> str | None:
    """Run the posted action; answers a new invite's link (shown once)."""
    action = request.POST.get("action")
    if action == "add":
        membership, created = project_services.membership_set(
            project=project, username=request.POST.get("username", "").strip(),
            role=request.POST.get("role", Role.LABELER), actor=request.user)
        messages.success(request, f"{membership.user.username} is "
                         f"{'now' if created else 'still'} a member ({membership.role}).")
    elif action == "role":
        membership = project_services.membership_change_role(
            membership=_membership(project, request), role=request.POST.get("role", ""),
            actor=request.user)
        messages.success(request, f"{membership.user.username} is now {membership.role}.")
    elif action == "remove":
        membership = _membership(project, request)
        name = membership.user.username
        project_services.membership_remove(membership=membership, actor=request.user)
        messages.success(request, f"{name} was removed; their open items went back to the queue.")
    elif action == "invite":
        _, secret = invite_services.invite_create(
            project=project, actor=request.user, role=request.POST.get("role", Role.LABELER),
            max_uses=_int(request.POST.get("max_uses"), 0), days=_int(request.POST.get("days"), 0))
        return request.build_absolute_uri(reverse("invite", args=[secret]))
    elif action == "revoke":
        invite = Invite.objects.filter(project=project, pk=_int(request.POST.get("invite"), 0)).first()
        if invite is None:
            raise NotFound("Invite not found.")
        invite_services.invite_revoke(invite=invite, actor=request.user)
        messages.success(request, "Invite link revoked.")
    else:
        messages.error(request, "Unknown action.")
    return None


@login_required
@require_http_methods(["GET", "POST"])
def team(request, project_id: int):
    project = project_for_page(request, project_id, need=access.MANAGE)
    new_link = None
    if request.method == "POST":
        try:
            new_link = _act(request, project)
        except DomainError as error:
            messages.error(request, str(error))
        if new_link is None:
            return redirect("team", project_id=project.pk)
    sort = request.GET.get("sort", "username")
    invites = [{"invite": i, "state": invite_services.invite_state(i)}
               for i in Invite.objects.filter(project=project)[:50]]
    return render(request, "frontend/team.html", {
        "project": project, "rows": team_progress(project=project, sort=sort), "sort": sort,
        "sort_keys": SORT_KEYS, "roles": Role.choices, "invites": invites, "new_link": new_link,
        "nav_admin": True})


@login_required
@require_GET
def team_csv(request, project_id: int):
    project = project_for_page(request, project_id, need=access.MANAGE)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-team-progress.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in team_progress(project=project, sort=request.GET.get("sort", "username")):
        values = row.as_dict()
        writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def invite(request, secret: str):
    """Open to anyone holding the link: create an account and join, or join
    with the account already signed in."""
    try:
        found = invite_services.invite_for_secret(secret)
    except NotFound as error:
        return render(request, "frontend/invite.html", {"invalid": error.message}, status=404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                invite_services.invite_accept_existing_user(secret=secret, user=request.user)
            else:
                password = request.POST.get("password", "")
                if password != request.POST.get("password2", ""):
                    raise DomainError("the two passwords differ", field="password2")
                user, _ = invite_services.invite_accept_new_user(
                    secret=secret, username=request.POST.get("username", ""), password=password,
                    email=request.POST.get("email", ""))
                # The account was just made with this password: sign in through the
                # site's own backend (the one that also throttles logins).
                login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        except NotFound as error:
            return render(request, "frontend/invite.html", {"invalid": error.message}, status=404)
        except DomainError as error:
            errors[error.field or "form"] = error.message
        else:
            messages.success(request, f"Welcome to {found.project.name}.")
            return redirect("home")
    return render(request, "frontend/invite.html", {
        "invite": found, "errors": errors, "values": request.POST if request.method == "POST" else {}},
        status=400 if errors else 200)
