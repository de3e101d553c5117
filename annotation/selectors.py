"""Reads. Each takes an already permission-checked project or user."""

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from annotation.errors import Invalid
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    ComparisonItem,
    ItemResponse,
    Project,
    Prompt,
)
from annotation.validation import id_clean

ITEM_ORDERINGS = {"id", "-id", "priority", "-priority", "created_at", "-created_at",
                  "submitted_count", "-submitted_count"}
ITEM_FILTERS = {"is_gold", "is_open", "split", "prompt"}
ANNOTATION_ORDERINGS = {"id", "-id", "created_at", "-created_at"}


def _bool(value: str, field: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise Invalid("must be true or false", field=field)


def ordering_clean(value: str | None, *, allowed: set[str], default: str) -> str:
    if not value:
        return default
    if value not in allowed:
        raise Invalid(f"must be one of {', '.join(sorted(allowed))}", field="ordering")
    return value


def item_list(*, project: Project, params) -> QuerySet[ComparisonItem]:
    """Items with their responses; filters and ordering come from allowlists."""
    unknown = set(params) - ITEM_FILTERS - {"ordering", "limit", "offset", "format"}
    if unknown:
        raise Invalid("unknown filter", field=sorted(unknown)[0])
    items = ComparisonItem.objects.filter(project=project)
    if "is_gold" in params:
        items = items.filter(is_gold=_bool(params["is_gold"], "is_gold"))
    if "is_open" in params:
        items = items.filter(is_open=_bool(params["is_open"], "is_open"))
    if "split" in params:
        if params["split"] not in ("train", "test"):
            raise Invalid("must be train or test", field="split")
        items = items.filter(prompt__split=params["split"])
    if "prompt" in params:
        items = items.filter(prompt_id=id_clean(params["prompt"], field="prompt"))
    ordering = ordering_clean(params.get("ordering"), allowed=ITEM_ORDERINGS, default="id")
    return items.order_by(ordering).prefetch_related(_slots())


def _slots() -> Prefetch:
    return Prefetch("slots", queryset=ItemResponse.objects.select_related("response"))


def prompt_list(*, project: Project, params) -> QuerySet[Prompt]:
    prompts = Prompt.objects.filter(project=project)
    if "split" in params:
        if params["split"] not in ("train", "test"):
            raise Invalid("must be train or test", field="split")
        prompts = prompts.filter(split=params["split"])
    return prompts.order_by("pk")


def item_detail(*, item: ComparisonItem) -> ComparisonItem:
    return ComparisonItem.objects.prefetch_related(_slots()).get(pk=item.pk)


@dataclass(frozen=True)
class LeaseShown:
    """A lease and what its labeler is shown: the prompt's messages and the
    response texts by canonical position."""

    assignment: Assignment
    messages: list
    texts: dict[int, str]

    def responses(self) -> list[dict]:
        """In the lease's display order."""
        return [{"position": p, "text": self.texts[p]} for p in self.assignment.display_order]


def lease_shown(*, assignment: Assignment) -> LeaseShown:
    """What the API returns for a lease, in one query (next runs this for every label)."""
    rows = ItemResponse.objects.filter(item_id=assignment.item_id).values_list(
        "position", "response__text", "item__prompt__messages")
    rows = list(rows)
    # Every row carries the same prompt (one item).
    messages = rows[0][2] if rows else []
    return LeaseShown(assignment=assignment, messages=messages,
                      texts={position: text for position, text, _ in rows})


def lease_detail(*, assignment: Assignment) -> Assignment:
    """The assignment with its prompt and responses, in three queries."""
    return (
        Assignment.objects.select_related("item__prompt")
        .prefetch_related(Prefetch("item__slots",
                                   queryset=ItemResponse.objects.select_related("response")))
        .get(pk=assignment.pk)
    )


def annotation_list_for_labeler(*, labeler, params) -> QuerySet[Annotation]:
    """A labeler's own annotations, newest first; never anyone else's."""
    annotations = Annotation.objects.filter(labeler=labeler)
    if "project" in params:
        annotations = annotations.filter(project_id=id_clean(params["project"], field="project"))
    ordering = ordering_clean(params.get("ordering"), allowed=ANNOTATION_ORDERINGS,
                              default="-created_at")
    return annotations.order_by(ordering, "-pk")


def annotation_list_for_project(*, project: Project, params) -> QuerySet[Annotation]:
    ordering = ordering_clean(params.get("ordering"), allowed=ANNOTATION_ORDERINGS, default="id")
    return Annotation.objects.filter(project=project).select_related("labeler").order_by(ordering)


def assignment_can_still_submit(*, assignment: Assignment) -> bool:
    """Whether a submit on this assignment would be accepted now, following the
    late-submit rule in ``services/submissions.py``: a leased assignment (live,
    or expired with its slot not yet reclaimed) can be submitted; a reclaimed
    one only while its item still has room (gold items always have room)."""
    if assignment.status == AssignmentStatus.LEASED:
        return True
    if assignment.status != AssignmentStatus.EXPIRED:
        return False
    item = ComparisonItem.objects.only("is_gold", "assigned_count").get(pk=assignment.item_id)
    return item.is_gold or item.assigned_count < assignment.project.overlap
