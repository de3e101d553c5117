"""The labeling queue: leases of items to labelers.

Invariant: for a non-gold item, live leases + submissions (``assigned_count``)
never exceed the project's overlap, and a labeler never holds two assignment
rows for one item (a unique constraint). An item an admin took out of the queue
(``removed_at``) is closed and holds no live lease until it is restored. ``assigned_count`` only changes in an
UPDATE guarded by the row lock, in this module and in submissions. The
statements every label runs are written out in SQL in queue_sql.py.
"""

import random
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q
from django.utils import timezone

from annotation.errors import Conflict
from annotation.events import event_emit
from annotation.models import Assignment, AssignmentStatus, ComparisonItem, Project
from annotation.services import queue_sql
from annotation.services.label_caps import label_cap_check
from audit.services import audit_record

CLAIM_ATTEMPTS = 5
# A freed slot reopens the item unless an admin took it out of the queue.
_NOT_REMOVED = ExpressionWrapper(Q(removed_at__isnull=True), output_field=BooleanField())
RECLAIM_BATCH = 500


def _display_order(k: int) -> list[int]:
    order = list(range(k))
    random.SystemRandom().shuffle(order)
    return order


def _lockable(queryset):
    """FOR UPDATE SKIP LOCKED where the database has it (PostgreSQL).

    SQLite has no row locks; there the settings open every transaction with
    BEGIN IMMEDIATE, so writers are serialized and the compare-and-set below
    is enough on its own.
    """
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def lease_live(*, project: Project, labeler, now: datetime | None = None) -> Assignment | None:
    return queue_sql.lease_live(project_id=project.pk, labeler_id=labeler.pk,
                                now=now or timezone.now())


def _gold_due(*, project: Project, labeler) -> bool:
    """Serve gold at the project's rate: after n served items a labeler has had
    about rate × n gold ones. A per-labeler phase spreads the positions so the
    k-th item is not gold for everyone."""
    if project.gold_rate <= 0:
        return False
    counts = Assignment.objects.filter(project=project, labeler=labeler).aggregate(
        total=Count("pk"), gold=Count("pk", filter=Q(is_gold=True))
    )
    phase = (labeler.pk * 0.6180339887) % 1.0
    return counts["gold"] < int(project.gold_rate * (counts["total"] + 1) + phase)


def item_take_slot(*, item_id: int, project: Project, gold: bool) -> bool:
    """Compare-and-set one slot on the item; True if it was still free."""
    return queue_sql.item_take_slot(item_id=item_id, overlap=project.overlap, gold=gold)


def _claim(*, project: Project, labeler, gold: bool, now: datetime) -> Assignment | None:
    """Lease the first free item the labeler has not seen.

    "Not seen" is ``labeler NOT IN (labelers of this item)`` and deliberately not
    NOT EXISTS. PostgreSQL turns NOT EXISTS into an anti-join planned from its
    statistics for this labeler; for one who started after the last ANALYZE it
    expects 1 row, materializes all of the labeler's assignments and compares each
    with every candidate, so a claim costs (items this labeler has seen that are
    still open)² — 100-365 ms after 1,000-2,000 labels at 1,000,000 items. A NOT IN
    sublink is never turned into a join; correlated on the item alone it stays one
    index probe of that item's few assignments per candidate, whatever the
    statistics (about 2 ms there).
    """
    for _ in range(CLAIM_ATTEMPTS):
        # No savepoints: nothing here is rolled back on its own. A failed
        # compare-and-set changed nothing, and an IntegrityError ends the whole
        # claim (Conflict), so the caller's transaction rolls back as one.
        with transaction.atomic(savepoint=False):
            # Two labelers reading the same head item would both see a free slot;
            # SKIP LOCKED hands each of them a different row, and the CAS in
            # item_take_slot re-checks the count under the row lock.
            item_id = queue_sql.item_candidate(project_id=project.pk, labeler_id=labeler.pk,
                                               gold=gold)
            if item_id is None:
                return None
            if not item_take_slot(item_id=item_id, project=project, gold=gold):
                continue
            try:
                return Assignment.objects.create(
                    project=project, item_id=item_id, labeler=labeler,
                    display_order=_display_order(project.num_responses),
                    is_gold=gold, leased_at=now,
                    expires_at=now + timedelta(seconds=project.lease_seconds),
                )
            except IntegrityError:
                # Already seen by this labeler (the unique constraint caught what
                # the candidate filter missed): the slot taken above is rolled
                # back with the rest of the claim.
                raise Conflict("item already leased to this labeler") from None
    return None


def item_claim_next(*, project: Project, labeler, caps: bool = True) -> Assignment | None:
    """The labeler's next item in the project, or None when nothing is left.

    Asking again while a lease is live returns that same lease. A labeler at
    one of the project's caps gets LabelCapReached instead of a new item
    (``caps=False``: the AI judge, whose labels the caps do not ration).
    """
    now = timezone.now()
    with transaction.atomic():
        # Serialize one labeler's own claims (a double click must not yield two
        # leases); other labelers are not blocked by this lock.
        queue_sql.labeler_lock(labeler_id=labeler.pk)
        live = lease_live(project=project, labeler=labeler, now=now)
        if live is not None:
            return live
        if caps:
            label_cap_check(project=project, labeler=labeler, now=now)
        assignment = None
        if _gold_due(project=project, labeler=labeler):
            assignment = _claim(project=project, labeler=labeler, gold=True, now=now)
        if assignment is None:
            assignment = _claim(project=project, labeler=labeler, gold=False, now=now)
        if assignment is None and leases_reclaim_expired(project=project, now=now):
            assignment = _claim(project=project, labeler=labeler, gold=False, now=now)
        if assignment is None and not ComparisonItem.objects.filter(
                project=project, is_open=True, is_gold=False).exists():
            # Not only this labeler's queue: no open item is left for anyone (the
            # partial queue index answers this). Subscribers hear it at most once
            # per quiet period (integrations.webhooks.services).
            event_emit(project_id=project.pk, name="project.queue_empty",
                       data={"labeler_waiting": True, "overlap": project.overlap})
    # A new lease's item loads lazily when a caller needs it: the API view
    # re-reads the lease with its prompt and responses in one go anyway.
    return assignment


def _release_slots(item_ids: list[int]) -> None:
    """Give back one slot per listed item (an id may repeat). Items are updated
    in primary-key order so concurrent releases take locks in the same order."""
    counts: dict[int, int] = {}
    for item_id in item_ids:
        counts[item_id] = counts.get(item_id, 0) + 1
    for item_id in sorted(counts):
        ComparisonItem.objects.filter(pk=item_id).update(
            assigned_count=F("assigned_count") - counts[item_id], is_open=_NOT_REMOVED
        )


def leases_reclaim_expired(*, project: Project | None = None, now: datetime | None = None) -> int:
    """Mark leases past their expiry as expired and free their slots."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            expired = Assignment.objects.filter(status=AssignmentStatus.LEASED, expires_at__lte=now)
            if project is not None:
                expired = expired.filter(project=project)
            rows = list(_lockable(expired.order_by("pk")).values_list("pk", "item_id")[:RECLAIM_BATCH])
            if not rows:
                return total
            Assignment.objects.filter(
                pk__in=[pk for pk, _ in rows], status=AssignmentStatus.LEASED
            ).update(status=AssignmentStatus.EXPIRED, finished_at=now)
            _release_slots([item_id for _, item_id in rows])
            total += len(rows)


def assignment_skip(*, assignment: Assignment) -> Assignment:
    """Skip: the labeler gives the item back; it will not be offered to them again."""
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status == AssignmentStatus.SUBMITTED:
            raise Conflict("this item was already submitted")
        if locked.status == AssignmentStatus.LEASED:
            _release_slots([locked.item_id])
        if locked.status != AssignmentStatus.SKIPPED:
            locked.status = AssignmentStatus.SKIPPED
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "finished_at"])
    return locked


def new_idempotency_key() -> str:
    return secrets.token_hex(16)


def item_remove_from_queue(*, item: ComparisonItem, actor) -> ComparisonItem:
    """Take an item out of the queue: it is handed to no one and its live leases
    end (their labelers' submits are refused), until ``item_restore_to_queue``.
    Labels already given stay. Audited; removing a removed item changes nothing."""
    now = timezone.now()
    with transaction.atomic():
        # Locks in the order submit and reclaim take them (lease rows, then the
        # item) so a concurrent submit cannot deadlock with this.
        list(Assignment.objects.select_for_update().filter(
            item_id=item.pk, status=AssignmentStatus.LEASED).order_by("pk").values_list("pk"))
        locked = ComparisonItem.objects.select_for_update().get(pk=item.pk)
        if locked.removed_at is not None:
            return locked
        # A claim that held the item's row before us may have added a lease: end it too.
        ended = Assignment.objects.filter(item_id=item.pk, status=AssignmentStatus.LEASED).update(
            status=AssignmentStatus.EXPIRED, finished_at=now)
        locked.assigned_count -= ended
        locked.is_open = False
        locked.removed_at = now
        locked.save(update_fields=["assigned_count", "is_open", "removed_at"])
        audit_record(actor, "item.remove_from_queue", locked, leases_ended=ended)
    return locked


def item_restore_to_queue(*, item: ComparisonItem, actor) -> ComparisonItem:
    """Put a removed item back: open again if it still needs labels (gold always). Audited."""
    with transaction.atomic():
        locked = ComparisonItem.objects.select_for_update().select_related("project").get(pk=item.pk)
        if locked.removed_at is None:
            return locked
        locked.removed_at = None
        locked.is_open = locked.is_gold or locked.assigned_count < locked.project.overlap
        locked.save(update_fields=["is_open", "removed_at"])
        audit_record(actor, "item.restore_to_queue", locked)
    return locked
