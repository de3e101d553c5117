"""Recording a labeler's judgement: idempotent, and never over the overlap.

Late-submit rule (documented in the README): a submission on a lease that has
expired is accepted when the item still has room for it — its lease still
holds the slot because the reclaimer has not run yet, or the item has fewer
live leases + submissions than the overlap (gold items always have room).
Otherwise it is refused with 409 ``lease_expired``.

Replay rule: the same idempotency key with the same judgement returns the first
annotation (200); the same key with a different judgement is refused with 409
``idempotency_mismatch`` rather than answered with the first one, which would
silently drop the new answer. ``time_on_task_ms`` is left out of the comparison:
the page measures it again on every attempt, so an honest retry differs there.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.errors import Conflict, Invalid
from annotation.models import (
    Annotation,
    AnnotationSource,
    Assignment,
    AssignmentStatus,
    Project,
)
from annotation.services import queue_priority, queue_sql
from annotation.services.quality_recompute import project_quality_schedule_on_commit
from annotation.services.queue import item_take_slot
from annotation.task_types import task_type_of
from annotation.validation import label_clean


def item_raise_disputed(*, project: Project, item_id: int) -> None:
    """Disagreement-first: lift a disputed item's priority (queue_priority owns the
    scale and the raise-only rule), so it gets its remaining labels before fresh ones."""
    task = task_type_of(project)
    # Pairwise: the side preferred (A / tie / B); ranking: the response ranked
    # first; feedback: up or down (annotation.task_types).
    rows = Annotation.objects.filter(item_id=item_id).values("strength", "ranking", "feedback")
    queue_priority.item_raise_disputed(item_id=item_id, choices=[task.choice(dict(row)) for row in rows])


class LeaseExpired(Conflict):
    code = "lease_expired"


class IdempotencyMismatch(Conflict):
    code = "idempotency_mismatch"


# The judgement fields a replay must repeat (see the module docstring).
REPLAY_FIELDS = ("strength", "both_bad", "ranking", "feedback", "ratings", "rationale", "flagged_unsafe")


def _same_judgement(annotation: Annotation, *, project, data: dict) -> Annotation:
    """The first annotation, if ``data`` repeats its judgement; else IdempotencyMismatch."""
    cleaned = label_clean(project, data)
    differ = [name for name in REPLAY_FIELDS if cleaned[name] != getattr(annotation, name)]
    if differ:
        raise IdempotencyMismatch(
            "this idempotency key already recorded a different answer "
            f"({', '.join(differ)} differ); use a new key only for a new item",
            field="idempotency_key")
    return annotation


def _replay(*, labeler, idempotency_key: str, assignment: Assignment, data: dict) -> Annotation | None:
    existing = Annotation.objects.filter(labeler=labeler, idempotency_key=idempotency_key).first()
    if existing is not None and existing.item_id != assignment.item_id:
        raise Conflict("this idempotency key was used for another item", field="idempotency_key")
    if existing is None:
        return None
    return _same_judgement(existing, project=assignment.project, data=data)


def annotation_submit(
    *,
    assignment: Assignment,
    data: dict,
    idempotency_key: str,
    source: str = AnnotationSource.HUMAN,
) -> tuple[Annotation, bool]:
    """Record the judgement for ``assignment``. Returns (annotation, created);
    the same key and judgement again returns the first annotation with
    created=False; the same key with another judgement raises IdempotencyMismatch."""
    if not isinstance(idempotency_key, str) or not 8 <= len(idempotency_key) <= 64:
        raise Invalid("must be a string of 8 to 64 characters", field="idempotency_key")
    labeler = assignment.labeler
    project = assignment.project
    # An assignment's item, gold flag and display order never change; only its
    # status is read again, under the lock.
    item_id = assignment.item_id
    try:
        with transaction.atomic():
            # The assignment row lock serializes submit, skip and the reclaimer
            # for this lease: a double submit waits here and then replays.
            # A replay (same key, same item) is found with the lock; a key already
            # used for another item trips the unique (labeler, key) constraint below.
            status, previous_id, previous_key = queue_sql.assignment_lock_for_submit(
                assignment_id=assignment.pk)
            if previous_id is not None:
                if previous_key == idempotency_key:
                    return _same_judgement(Annotation.objects.get(pk=previous_id),
                                           project=project, data=data), False
                raise Conflict("you already submitted this item")
            cleaned = label_clean(project, data)
            if status == AssignmentStatus.SKIPPED:
                raise Conflict("this item was skipped")
            if status == AssignmentStatus.EXPIRED and not item_take_slot(
                item_id=item_id, project=project, gold=assignment.is_gold
            ):
                raise LeaseExpired("the lease expired, and the item has all the labels it needs "
                                   "or was taken out of the queue")
            annotation = Annotation.objects.create(
                project=project, item_id=item_id, labeler=labeler, assignment_id=assignment.pk,
                source=source, display_order=assignment.display_order,
                idempotency_key=idempotency_key, **cleaned,
            )
            now = timezone.now()
            queue_sql.assignment_mark_submitted(assignment_id=assignment.pk, item_id=item_id, now=now)
            assignment.status, assignment.finished_at = AssignmentStatus.SUBMITTED, now
            if project.disagreement_first and not assignment.is_gold:
                item_raise_disputed(project=project, item_id=item_id)
            project_quality_schedule_on_commit(project=project)
    except IntegrityError:
        # A concurrent request with the same key won the insert: replay it.
        existing = _replay(labeler=labeler, idempotency_key=idempotency_key, assignment=assignment,
                           data=data)
        if existing is None:
            raise
        return existing, False
    return annotation, True
