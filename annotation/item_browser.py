"""Reads for the items browser: a filtered, paged list of a project's items
and one item with every label. Takes an already permission-checked project.

Labelers are named for project admins and shown by pseudonym to engineers,
as in exports (``labeler_pseudonym``).
"""

from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast

from annotation.datasets.rows import labeler_pseudonym
from annotation.errors import Invalid
from annotation.models import Annotation, ComparisonItem, ItemConsensus, ItemResponse, Project

STATUSES = {
    "unlabeled": "No labels yet",
    "in_progress": "Some labels",
    "complete": "All labels in",
    "removed": "Taken out of the queue",
}
ORDERINGS = {"id", "-id", "priority", "-priority", "submitted_count", "-submitted_count"}
MAX_QUERY = 200


def _flag(value: str, field: str) -> bool:
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise Invalid("must be true or false", field=field)


def item_browse(*, project: Project, params) -> QuerySet:
    """Items filtered by ``status``, ``gold``, ``adjudication`` (needs it),
    ``model`` (a response's model name), ``q`` (text in the prompt or a
    response), ordered by ``order``."""
    items = (ComparisonItem.objects.filter(project=project)
             .select_related("prompt", "consensus")
             .prefetch_related("slots__response"))
    status = params.get("status") or ""
    if status == "unlabeled":
        items = items.filter(submitted_count=0)
    elif status == "in_progress":
        items = items.filter(submitted_count__gt=0, submitted_count__lt=project.overlap)
    elif status == "removed":
        items = items.filter(removed_at__isnull=False)
    elif status == "complete":
        items = items.filter(submitted_count__gte=project.overlap)
    elif status:
        raise Invalid(f"must be one of {', '.join(STATUSES)}", field="status")
    if params.get("gold"):
        items = items.filter(is_gold=_flag(params["gold"], "gold"))
    if params.get("adjudication"):
        needs = _flag(params["adjudication"], "adjudication")
        flagged = ItemConsensus.objects.filter(item=OuterRef("pk"), needs_adjudication=True)
        items = items.filter(Exists(flagged) if needs else ~Exists(flagged))
    if params.get("model"):
        items = items.filter(Exists(ItemResponse.objects.filter(
            item=OuterRef("pk"), response__model_name=params["model"])))
    query = (params.get("q") or "").strip()[:MAX_QUERY]
    if query:
        in_response = ItemResponse.objects.filter(item=OuterRef("pk"),
                                                  response__text__icontains=query)
        items = items.annotate(prompt_text=Cast(F("prompt__messages"), TextField())).filter(
            Q(prompt_text__icontains=query) | Exists(in_response))
    order = params.get("order") or "id"
    if order not in ORDERINGS:
        raise Invalid(f"must be one of {', '.join(sorted(ORDERINGS))}", field="order")
    return items.order_by(order, "pk")


def project_models(*, project: Project) -> list[str]:
    return sorted(set(ItemResponse.objects.filter(item__project=project)
                      .exclude(response__model_name="")
                      .values_list("response__model_name", flat=True).distinct()[:200]))


@dataclass(frozen=True)
class LabelRow:
    annotation: Annotation
    labeler: str
    shown: str  # the order the labeler saw, as letters of the canonical positions


def item_labels(*, item: ComparisonItem, names: bool) -> list[LabelRow]:
    """Every label of the item, oldest first; ``names`` for project admins."""
    rows = []
    for annotation in (Annotation.objects.filter(item=item).select_related("labeler")
                       .order_by("created_at", "pk")):
        labeler = annotation.labeler.username if names else labeler_pseudonym(annotation.labeler_id)
        shown = " ".join(chr(ord("A") + p) for p in annotation.display_order or [])
        rows.append(LabelRow(annotation=annotation, labeler=labeler, shown=shown))
    return rows
