"""Per-item consensus, stored: annotations in, one ItemConsensus row per labeled item out.

Each task type computes its items' consensus (annotation.task_types: majority
vote, mean strength or the Dawid–Skene posterior for pairwise items; mean or
reliability-weighted mean ranks for rankings; majority or Dawid–Skene on
thumbs up/down for feedback) and states its methods and thresholds; this
module flags the items whose consensus is weak for
adjudication, and writes the rows in one transaction.
"""

from django.db import transaction
from django.utils import timezone

from annotation.events import event_emit
from annotation.models import Adjudication, Annotation, ItemConsensus, Project
from annotation.task_types import adjudicate_below_for, consensus_method_for, task_type_of

MIN_LABELS = 2


def consensus_method_clean(project: Project, method) -> str:
    return consensus_method_for(project, method or None)


def item_consensus_recompute(*, project: Project, method: str | None = None,
                             threshold: float | None = None, min_labels: int = MIN_LABELS) -> dict:
    """Recompute and store the consensus of every labeled (non-gold) item.

    Items with ``confidence < threshold`` (default: the project's, else the
    task type's for the method, annotation.task_types) and at least
    ``min_labels`` labels need adjudication unless an admin already decided
    them. Rows of items that lost all their labels are removed. Returns counts for the report.
    """
    method = consensus_method_clean(project, method)
    if threshold is None:
        threshold = adjudicate_below_for(project, method)
    labels = Annotation.objects.filter(project=project, item__is_gold=False)
    rows = task_type_of(project).consensus_rows(project, method, labels)
    decided = set(Adjudication.objects.filter(project=project).values_list("item_id", flat=True))
    now = timezone.now()
    objects = [ItemConsensus(
        item_id=r.item_id, project=project, method=method, label=r.label, strength=r.strength,
        ranking=r.ranking, agreement=r.agreement, confidence=r.confidence, n_labels=r.n_labels,
        needs_adjudication=(r.n_labels >= min_labels and r.confidence < threshold
                            and r.item_id not in decided),
        computed_at=now) for r in rows]
    # Two recomputes of one project rarely overlap (submissions debounce to one
    # per window); if an on-demand one does, the rows of whichever commits last
    # stand until the next recompute, which the next submission schedules.
    with transaction.atomic():
        # Flagged before this run: only items newly needing a decision are announced.
        was_flagged = set(ItemConsensus.objects.filter(project=project, needs_adjudication=True)
                          .values_list("item_id", flat=True))
        ItemConsensus.objects.bulk_create(
            objects, batch_size=1000, update_conflicts=True, unique_fields=["item"],
            update_fields=["method", "label", "strength", "ranking", "agreement", "confidence",
                           "n_labels", "needs_adjudication", "computed_at"])
        # Every current row now carries this run's stamp; older stamps belong
        # to items that lost all their labels.
        ItemConsensus.objects.filter(project=project).exclude(computed_at=now).delete()
        for o in objects:
            if o.needs_adjudication and o.item_id not in was_flagged:
                event_emit(project_id=project.pk, name="item.needs_adjudication", data={
                    "item_id": o.item_id, "method": method, "confidence": o.confidence,
                    "agreement": o.agreement, "n_labels": o.n_labels, "threshold": threshold})
    flagged = sum(o.needs_adjudication for o in objects)
    return {"method": method, "n_items": len(objects), "n_flagged": flagged,
            "threshold": threshold, "min_labels": min_labels}
