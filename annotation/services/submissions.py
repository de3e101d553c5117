"""Recording a labeler's judgement: idempotent, and never over the overlap.

Late-submit rule (documented in the README): a submission on a lease that has
expired is accepted when the item still has room for it — its lease still
holds the slot because the reclaimer has not run yet, or the item has fewer
live leases + submissions than the overlap (gold items always have room).
Otherwise it is refused with 409 ``lease_expired``.
"""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotation.errors import Conflict, Invalid
from annotation.models import (
    Annotation,
    AnnotationSource,
    Assignment,
    AssignmentStatus,
    ComparisonItem,
)
from annotation.services.quality_recompute import project_quality_schedule_on_commit
from annotation.services.queue import item_take_slot
from annotation.validation import label_clean

DISPUTE_PRIORITY = 100


def _disagreement(choices: list) -> float:
    """1 − the share of the most common choice: 0 when all agree."""
    if len(choices) < 2:
        return 0.0
    return 1 - max(choices.count(c) for c in set(choices)) / len(choices)


def item_raise_disputed(*, item_id: int) -> None:
    """Disagreement-first: lift an item's priority to 100 × its disagreement
    (never lowering a priority an admin set), so disputed items get their
    remaining labels before fresh ones."""
    rows = Annotation.objects.filter(item_id=item_id).values_list("strength", "ranking")
    # Pairwise: the side preferred (A / tie / B); ranking: the response ranked first.
    choices = [(s > 0) - (s < 0) if s is not None else ranking.index(min(ranking))
               if ranking else None for s, ranking in rows]
    score = round(DISPUTE_PRIORITY * _disagreement([c for c in choices if c is not None]))
    if score:
        ComparisonItem.objects.filter(pk=item_id, priority__lt=score).update(priority=score)


class LeaseExpired(Conflict):
    code = "lease_expired"


def _replay(*, labeler, idempotency_key: str, assignment: Assignment) -> Annotation | None:
    existing = Annotation.objects.filter(labeler=labeler, idempotency_key=idempotency_key).first()
    if existing is not None and existing.item_id != assignment.item_id:
        raise Conflict("this idempotency key was used for another item", field="idempotency_key")
    return existing


def annotation_submit(
    *,
    assignment: Assignment,
    data: dict,
    idempotency_key: str,
    source: str = AnnotationSource.HUMAN,
) -> tuple[Annotation, bool]:
    """Record the judgement for ``assignment``. Returns (annotation, created);
    the same key again returns the first annotation with created=False."""
    if not isinstance(idempotency_key, str) or not 8 <= len(idempotency_key) <= 64:
        raise Invalid("must be a string of 8 to 64 characters", field="idempotency_key")
    labeler = assignment.labeler
    existing = _replay(labeler=labeler, idempotency_key=idempotency_key, assignment=assignment)
    if existing is not None:
        return existing, False
    project = assignment.project
    cleaned = label_clean(project, data)
    try:
        with transaction.atomic():
            # The assignment row lock serializes submit, skip and the reclaimer
            # for this lease: a double submit waits here and then replays.
            locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
            previous = Annotation.objects.filter(item_id=locked.item_id, labeler=labeler).first()
            if previous is not None:
                if previous.idempotency_key == idempotency_key:
                    return previous, False
                raise Conflict("you already submitted this item")
            if locked.status == AssignmentStatus.SKIPPED:
                raise Conflict("this item was skipped")
            if locked.status == AssignmentStatus.EXPIRED and not item_take_slot(
                item_id=locked.item_id, project=project, gold=locked.is_gold
            ):
                raise LeaseExpired("the lease expired and the item has all the labels it needs")
            annotation = Annotation.objects.create(
                project=project, item_id=locked.item_id, labeler=labeler, assignment=locked,
                source=source, display_order=locked.display_order,
                idempotency_key=idempotency_key, **cleaned,
            )
            locked.status = AssignmentStatus.SUBMITTED
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "finished_at"])
            ComparisonItem.objects.filter(pk=locked.item_id).update(
                submitted_count=F("submitted_count") + 1)
            if project.disagreement_first and not locked.is_gold:
                item_raise_disputed(item_id=locked.item_id)
            project_quality_schedule_on_commit(project_id=project.pk)
    except IntegrityError:
        # A concurrent request with the same key won the insert: replay it.
        existing = _replay(labeler=labeler, idempotency_key=idempotency_key, assignment=assignment)
        if existing is None:
            raise
        return existing, False
    return annotation, True
