"""The arena's pages and its JSON and streaming endpoints (session auth, CSRF
on). Thin: parse, look the object up through a permission check, call one
service, shape the answer. The battle page's script is
frontend/static/frontend/js/arena.js."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation import access
from annotation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from annotation.task_types import task_type_of
from arena import selectors
from arena.forms import ArenaForm
from arena.models import Arena
from arena.services import battles, votes
from arena.services.config import arena_for_project, arena_settings_update, pool_candidates
from arena.services.leaderboard import arena_leaderboard
from arena.services.limits import RateLimited, ServerBusy
from frontend.rendering import markdown_render

STATUS = {NotFound: 404, Forbidden: 403, RateLimited: 429, ServerBusy: 503, Conflict: 409,
          Invalid: 400}
VOTE_FIELDS = ("strength", "both_bad", "rationale", "flagged_unsafe")
# The pairwise scale and its keys, as on the labeling page (Model A is on the left).
SCALE = [
    (-2, "A much better", "1"),
    (-1, "A better", "2"),
    (0, "Tie", "3"),
    (1, "B better", "4"),
    (2, "B much better", "5"),
]


def _error(error: DomainError) -> JsonResponse:
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
    return JsonResponse(error.as_dict(), status=status)


def _body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Invalid("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


def _page_project(request, project_id, need):
    try:
        return access.project_for_user(user=request.user, project_id=project_id, need=need)
    except NotFound:
        raise Http404("Project not found.") from None
    except Forbidden as error:
        raise PermissionDenied(error.message) from None


def _arena(project):
    try:
        return arena_for_project(project=project)
    except NotFound:
        raise Http404("This project has no arena.") from None


@login_required
@require_GET
def battle_page(request, project_id: int):
    project = _page_project(request, project_id, access.LABEL)
    arena = _arena(project)
    role = access.project_role(user=request.user, project=project)
    return render(request, "arena/battle.html", {
        "project": project, "arena": arena,
        "scale": [s for s in SCALE if s[0] != 0 or project.allow_ties],
        "suggested": arena.suggested_prompts,
        "can_curate": role in access.CURATE,
        "urls": {"start": reverse("arena-battle-start", args=[project.pk])},
    })


def _battle_urls(battle) -> dict:
    return {name: reverse(f"arena-battle-{name}", args=[battle.pk])
            for name in ("turn", "stop", "vote")}


@login_required
@require_POST
def battle_start(request, project_id: int):
    """A new battle; the labeler's unvoted one (``previous``) is abandoned."""
    try:
        project = access.project_for_user(user=request.user, project_id=project_id,
                                          need=access.LABEL)
        arena = arena_for_project(project=project)
        previous = _body(request).get("previous")
        if previous is not None:
            battles.battle_abandon(battle=selectors.battle_for_labeler(user=request.user,
                                                                       battle_id=previous))
        battle = battles.battle_start(arena=arena, user=request.user)
    except DomainError as error:
        return _error(error)
    return JsonResponse({**selectors.battle_public(battle), "urls": _battle_urls(battle)},
                        status=201)


def _sse(events):
    """Server-sent events; a finished answer also comes as sanitized Markdown
    HTML (while streaming the page shows plain text, never markup)."""
    texts: dict[str, list[str]] = {"a": [], "b": []}
    for event in events:
        if event["type"] == "delta":
            texts[event["side"]].append(event["text"])
        elif event["type"] == "end":
            event = {**event, "html": markdown_render("".join(texts[event["side"]]).strip())}
        yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"


@login_required
@require_POST
def battle_turn(request, battle_id: int):
    """Both models' answers to the labeler's prompt, streamed as server-sent
    events (one JSON object per event) until a final "done" or "failed"."""
    try:
        battle = selectors.battle_for_labeler(user=request.user, battle_id=battle_id)
        data = _body(request)
        run = battles.turn_begin(battle=battle, prompt=data.get("prompt"),
                                 regenerate=bool(data.get("regenerate")))
    except DomainError as error:
        return _error(error)
    response = StreamingHttpResponse(_sse(battles.turn_events(run)),
                                     content_type="text/event-stream; charset=utf-8")
    # No proxy buffering (nginx honours X-Accel-Buffering), no caching.
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@login_required
@require_POST
def battle_stop(request, battle_id: int):
    try:
        battle = selectors.battle_for_labeler(user=request.user, battle_id=battle_id)
    except DomainError as error:
        return _error(error)
    return JsonResponse({"stopping": battles.turn_stop(battle=battle)})


@login_required
@require_POST
def battle_vote(request, battle_id: int):
    """The vote; the answer reveals the models' names."""
    try:
        battle = selectors.battle_for_labeler(user=request.user, battle_id=battle_id)
        data = _body(request)
        battle = votes.battle_vote(battle=battle, data={k: data.get(k) for k in VOTE_FIELDS})
    except DomainError as error:
        return _error(error)
    return JsonResponse(selectors.battle_public(battle))


@login_required
@require_GET
def leaderboard_page(request, project_id: int):
    project = _page_project(request, project_id, access.CURATE)
    arena = _arena(project)
    board = arena_leaderboard(arena=arena)
    matrix = [{"model": m, "cells": [{"rate": board["wins"][i][j], "count": board["counts"][i][j]}
                                     for j in range(len(board["models"]))]}
              for i, m in enumerate(board["models"])]
    return render(request, "arena/leaderboard.html", {
        "project": project, "arena": arena, "board": board, "matrix": matrix, "nav_admin":
        access.project_role(user=request.user, project=project) == "admin"})


@login_required
@require_GET
def battles_page(request, project_id: int):
    """Recent battles with their votes and unsafe flags, for the project's admins."""
    project = _page_project(request, project_id, access.MANAGE)
    arena = _arena(project)
    flagged = request.GET.get("flagged") == "1"
    return render(request, "arena/battles.html", {
        "project": project, "arena": arena, "flagged": flagged, "nav_admin": True,
        "battles": selectors.battles_recent(arena=arena, flagged_only=flagged)})


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request, project_id: int):
    """Arena mode's settings and pool, for the project's admins (the API's
    PUT /api/projects/{id}/arena/ does the same)."""
    project = _page_project(request, project_id, access.MANAGE)
    arena = Arena.objects.filter(project=project).first()
    candidates = pool_candidates(project=project)
    if request.method == "POST":
        form = ArenaForm(request.POST, candidates=candidates)
        if form.is_valid():
            try:
                arena_settings_update(project=project, actor=request.user, via="page",
                                      **form.update_kwargs(arena.sampling if arena else {}))
            except DomainError as error:
                form.add_service_error(error.field, error.message)
            else:
                messages.success(request, "Arena settings saved.")
                return redirect("arena-settings", project_id=project.pk)
    else:
        form = ArenaForm(initial=ArenaForm.initial_for(arena), candidates=candidates)
    return render(request, "arena/settings.html", {
        "project": project, "arena": arena, "form": form, "nav_admin": True,
        "head_to_head": task_type_of(project).head_to_head})
