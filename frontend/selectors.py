"""Reads for the labeler pages. Each takes an already permission-checked user,
project or assignment (see ``annotation.access``)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone

from annotation import selectors as annotation_selectors
from annotation.access import LABEL, projects_for_user
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    ComparisonItem,
    Membership,
    Project,
)
from annotation.services.label_caps import label_cap_reason, label_caps_set
from annotation.task_types import TaskTypeBase, task_type_of
from annotation.team_progress import REMAINING_CAP, items_remaining_for_labeler
from frontend.rendering import markdown_render, word_diff
from generation.selectors import jobs_generating

# The home page counts at most REMAINING_CAP remaining items per project, so a
# project with a million items costs one bounded query.
# Pairs at least this similar get a hint to use the word diff.
NEAR_IDENTICAL = 0.6

ROLE_TITLES = {"system": "System", "user": "User", "assistant": "Assistant"}


@dataclass(frozen=True)
class HomeRow:
    project: Project
    role: str
    can_label: bool
    today: int
    total: int
    remaining: int
    remaining_capped: bool
    # The project's queued or running generation job: its items are still
    # arriving, so "nothing remaining" does not mean "all done".
    generating: object = None
    empty_reason: str = ""  # why nothing is left for this labeler, when nothing is
    capped: str = ""  # why the labeler gets no new item now: at one of the project's caps
    guidelines_html: str = ""

    @property
    def task(self) -> TaskTypeBase:
        return task_type_of(self.project)


def queue_empty_reason(*, project: Project, labeler, generating: bool | None = None) -> str:
    """Why the queue has nothing for this labeler, in their words: paused
    (archived), waiting for generation or data, others still holding the last
    items, or all done. ``generating``: whether a generation job is queued or
    running, when the caller already knows (else it is looked up)."""
    if project.archived_at is not None:
        return "The project is paused (archived) by its admins."
    if label_caps_set(project):
        mine = labeler_counts(user=labeler, project_ids=[project.pk]).get(project.pk, {})
        capped = label_cap_reason(project=project, today=mine.get("today", 0), total=mine.get("total", 0))
        if capped:
            return capped
    items = ComparisonItem.objects.filter(project=project, is_gold=False)
    if generating is None:
        generating = bool(jobs_generating(project_ids=[project.pk]))
    if generating:
        return "Waiting for generation: new items arrive when the models finish writing."
    if not items.exists():
        return "No items yet: the project's admins have not added data."
    held = Assignment.objects.filter(project=project, status=AssignmentStatus.LEASED,
                                     expires_at__gt=timezone.now()).exclude(labeler=labeler)
    if held.exists() and items.filter(is_open=False, removed_at__isnull=True,
                                     submitted_count__lt=project.overlap).exists():
        return "Others are labeling the last items; some may come back if their time runs out."
    return "All done: every item has the labels it needs, or you have labeled it."


def day_start(now: datetime | None = None) -> datetime:
    now = timezone.localtime(now or timezone.now())
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def labeler_counts(*, user, project_ids: list[int] | None = None) -> dict[int, dict]:
    """{project_id: {"today": n, "total": n}} of the user's own annotations."""
    mine = Annotation.objects.filter(labeler=user)
    if project_ids is not None:
        mine = mine.filter(project_id__in=project_ids)
    rows = mine.values("project_id").annotate(
        total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=day_start())))
    return {row["project_id"]: {"today": row["today"], "total": row["total"]} for row in rows}


def labeler_home_rows(*, user) -> list[HomeRow]:
    projects = list(projects_for_user(user=user).order_by("name", "pk"))
    counts = labeler_counts(user=user, project_ids=[p.pk for p in projects])
    roles = dict(Membership.objects.filter(user=user, project__in=projects)
                 .values_list("project_id", "role"))
    generating = jobs_generating(project_ids=[p.pk for p in projects])
    rows = []
    for project in projects:
        role = "admin" if user.is_superuser else roles.get(project.pk, "")
        can_label = role in LABEL
        remaining = items_remaining_for_labeler(project=project, labeler=user) if can_label else 0
        mine = counts.get(project.pk, {"today": 0, "total": 0})
        if project.archived_at is not None:
            remaining = 0  # an archived project hands out nothing
        capped = (label_cap_reason(project=project, today=mine["today"], total=mine["total"])
                  if can_label else "")
        reason = (queue_empty_reason(project=project, labeler=user,
                                     generating=project.pk in generating)
                  if can_label and not remaining and not capped else "")
        rows.append(HomeRow(project=project, role=role, can_label=can_label, today=mine["today"],
                            total=mine["total"], remaining=remaining,
                            remaining_capped=remaining >= REMAINING_CAP,
                            generating=generating.get(project.pk), empty_reason=reason, capped=capped,
                            guidelines_html=markdown_render(project.guidelines)
                            if can_label and project.guidelines else ""))
    return rows


def seconds_left(assignment: Assignment, now: datetime | None = None) -> float:
    now = now or timezone.now()
    return max(0.0, (assignment.expires_at - now).total_seconds())


def lease_state(*, assignment: Assignment) -> dict:
    """What the page needs to know when its lease timer runs out."""
    return {
        "assignment": assignment.pk,
        "status": assignment.status,
        "seconds_left": round(seconds_left(assignment), 1),
        "still_yours": annotation_selectors.assignment_can_still_submit(assignment=assignment),
    }


def lease_content(*, assignment: Assignment) -> dict:
    """The leased item rendered for the page: sanitized HTML for every turn and
    response (in the order the lease shows them), and for pairs a word diff."""
    lease = annotation_selectors.lease_detail(assignment=assignment)
    texts = {slot.position: slot.response.text for slot in lease.item.slots.all()}
    ordered = [texts[p] for p in lease.display_order]
    responses = [
        {"position": position, "letter": chr(ord("A") + index), "html": markdown_render(text)}
        for index, (position, text) in enumerate(zip(lease.display_order, ordered, strict=True))
    ]
    content = {
        **lease_state(assignment=lease),
        "item": lease.item_id,
        "display_order": lease.display_order,
        "messages": [
            {"role": m.get("role", "user"), "title": ROLE_TITLES.get(m.get("role"), "Message"),
             "html": markdown_render(m.get("content", ""))}
            for m in lease.item.prompt.messages
        ],
        "responses": responses,
        "similarity": None,
        "near_identical": False,
    }
    # A word diff helps compare two responses (pairwise); one or K > 2 get none.
    if len(ordered) == 2:
        diff = word_diff(ordered[0], ordered[1])
        if diff is not None:
            responses[0]["diff_html"], responses[1]["diff_html"], similarity = diff
            content["similarity"] = similarity
            content["near_identical"] = similarity >= NEAR_IDENTICAL
    return content
