"""The items browser: a project's items, filtered and paged, and one item's
page with its prompt, responses, every label and the consensus. Admins mark
gold (with its answer), set the queue priority and take the item out of the
queue (or put it back) there, through the same services as the API.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from annotation import access
from annotation.errors import DomainError, Invalid, NotFound
from annotation.item_browser import STATUSES, item_browse, item_labels, project_models
from annotation.services.items import item_set_gold
from annotation.services.queue import item_remove_from_queue, item_restore_to_queue
from annotation.services.queue_priority import item_priority_set, priority_clean
from annotation.task_types import task_type_of
from frontend.rendering import markdown_render
from frontend.views.common import project_for_page

PAGE_SIZE = 50
FILTERS = ("status", "gold", "adjudication", "model", "q", "order")


@login_required
@require_http_methods(["GET"])
def items(request, project_id: int):
    project = project_for_page(request, project_id, need=access.CURATE)
    params = {name: request.GET.get(name, "") for name in FILTERS}
    try:
        rows = item_browse(project=project, params=params)
        error = None
    except Invalid as invalid:
        rows, error = item_browse(project=project, params={}), str(invalid)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in params.items() if v)
    return render(request, "frontend/items.html", {
        "project": project, "page": page, "params": params, "statuses": STATUSES,
        "models": project_models(project=project), "error": error, "query": query,
        "nav_admin": access.project_role(user=request.user, project=project) == "admin"})


def _gold(request, item) -> None:
    if request.POST.get("is_gold") != "on":
        answer = None
    else:
        answer = task_type_of(item.project).gold_answer_from_form(request.POST)
    item = item_set_gold(item=item, is_gold=answer is not None, gold_answer=answer, actor=request.user,
                         via="page")
    messages.success(request, "Gold answer saved." if item.is_gold else "No longer a gold item.")


def _priority(request, item) -> None:
    priority = priority_clean(request.POST.get("priority", ""))
    item_priority_set(item=item, priority=priority, actor=request.user, via="page")
    messages.success(request, f"Priority set to {priority}.")


def _queue(request, item) -> None:
    if request.POST.get("in_queue") == "true":
        item_restore_to_queue(item=item, actor=request.user)
        messages.success(request, "Back in the queue.")
    else:
        item_remove_from_queue(item=item, actor=request.user)
        messages.success(request, "Taken out of the queue: no one is handed it until it is restored.")


@login_required
@require_http_methods(["GET", "POST"])
def item(request, project_id: int, item_id: int):
    project = project_for_page(request, project_id, need=access.CURATE)
    is_admin = access.project_role(user=request.user, project=project) == "admin"
    try:
        found = access.item_for_user(user=request.user, project=project, item_id=item_id)
    except NotFound:
        raise Http404("Item not found.") from None
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied("Only project admins change items.")
        action = {"gold": _gold, "priority": _priority, "queue": _queue}.get(request.POST.get("action"))
        try:
            if action is None:
                raise Invalid("unknown action")
            action(request, found)
        except DomainError as error:
            messages.error(request, str(error))
        return redirect("item", project_id=project.pk, item_id=found.pk)
    slots = sorted(found.slots.select_related("response"), key=lambda s: s.position)
    letters = [chr(ord("A") + s.position) for s in slots]
    # The reverse one-to-one raises an AttributeError subclass when missing.
    consensus = getattr(found, "consensus", None)
    return render(request, "frontend/item.html", {
        "project": project, "item": found, "nav_admin": is_admin, "is_admin": is_admin,
        "messages_html": [{"role": m.get("role", "user"),
                           "html": markdown_render(m.get("content", ""))}
                          for m in found.prompt.messages],
        "responses": [{"letter": letter, "model": s.response.model_name,
                       "html": markdown_render(s.response.text)}
                      for letter, s in zip(letters, slots, strict=True)],
        "labels": item_labels(item=found, names=is_admin), "letters": letters,
        "consensus": consensus, "task": task_type_of(project),
        "strengths": range(-2, 3)})
