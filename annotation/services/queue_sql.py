"""The statements run for every label, written out in SQL.

A label is one next + one submit. Through the ORM their dozen-odd statements
cost more Python to build than the database needs to run them (about 0.5 ms
each against 0.1 ms; benchmarks/RESULTS.md, "Labeling queue"), so the ones on
that path are plain SQL here, the same text on PostgreSQL and SQLite. The one
difference is row locks: SQLite has none, and there the settings open every
transaction with BEGIN IMMEDIATE, which serializes writers instead.

Everything else about the queue (the rules, the transactions) stays in
queue.py and submissions.py; these functions only run one statement each.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection

from annotation.models import Assignment, AssignmentStatus


def _locks() -> tuple[str, str]:
    """(FOR UPDATE, FOR UPDATE SKIP LOCKED) on this database, or empty."""
    features = connection.features
    return (" FOR UPDATE" if features.has_select_for_update else "",
            " FOR UPDATE SKIP LOCKED" if features.has_select_for_update_skip_locked else "")


def _execute(sql: str, params: list) -> tuple[list[tuple], int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return (cursor.fetchall() if cursor.description else []), cursor.rowcount


def _when(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def labeler_lock(*, labeler_id: int) -> None:
    """Hold the labeler's user row until the transaction ends."""
    lock, _ = _locks()
    if lock:
        table = get_user_model()._meta.db_table
        _execute(f'SELECT id FROM "{table}" WHERE id = %s{lock}', [labeler_id])  # noqa: S608 - no input in the text


def lease_live(*, project_id: int, labeler_id: int, now: datetime) -> Assignment | None:
    """The labeler's oldest unexpired lease in the project."""
    leases = Assignment.objects.raw(
        "SELECT * FROM annotation_assignment WHERE project_id = %s AND labeler_id = %s"
        " AND status = %s AND expires_at > %s ORDER BY id LIMIT 1",
        [project_id, labeler_id, AssignmentStatus.LEASED.value, _when(now)],
    )
    return next(iter(leases), None)


# Never given to the labeler: NOT IN over the item's own assignees, deliberately
# not NOT EXISTS (see the note in queue.py). labeler_id is NOT NULL, so NOT IN
# has no NULL trap. The filters repeat item_queue_idx's predicate word for word
# so PostgreSQL can use that partial index.
_CANDIDATE = """
    SELECT i.id FROM annotation_comparisonitem i
    WHERE i.project_id = %s AND {kind}
      AND %s NOT IN (SELECT a.labeler_id FROM annotation_assignment a WHERE a.item_id = i.id)
    ORDER BY {order} LIMIT 1{lock}"""


def item_candidate(*, project_id: int, labeler_id: int, gold: bool) -> int | None:
    """The first item the labeler may take, locked; rows other claims hold are
    skipped rather than waited for. Gold items come in random order."""
    _, skip_locked = _locks()
    if gold:
        # is_open is true on every gold item except one taken out of the queue.
        sql = _CANDIDATE.format(kind="i.is_gold AND i.is_open", order="RANDOM()", lock=skip_locked)
    else:
        sql = _CANDIDATE.format(kind="i.is_open AND NOT i.is_gold",
                                order="i.priority DESC, i.created_at, i.id", lock=skip_locked)
    rows, _ = _execute(sql, [project_id, labeler_id])
    return rows[0][0] if rows else None


def item_take_slot(*, item_id: int, overlap: int, gold: bool) -> bool:
    """Compare-and-set one slot on the item; True if it was still free.

    Gold items are shown to every labeler: no cap. Otherwise the right-hand
    sides read the old row, so is_open becomes (old + 1 < overlap). An item
    taken out of the queue has no free slot (a late submit on a lease that
    ended cannot take one back).
    """
    if gold:
        _, taken = _execute("UPDATE annotation_comparisonitem SET assigned_count = assigned_count + 1"
                            " WHERE id = %s AND is_gold AND removed_at IS NULL", [item_id])
    else:
        _, taken = _execute(
            "UPDATE annotation_comparisonitem SET assigned_count = assigned_count + 1,"
            " is_open = (assigned_count + 1 < %s) WHERE id = %s AND NOT is_gold AND assigned_count < %s"
            " AND removed_at IS NULL",
            [overlap, item_id, overlap],
        )
    return taken == 1


def assignment_lock_for_submit(*, assignment_id: int) -> tuple[str, int | None, str | None]:
    """The assignment's status, its row locked until the transaction ends, and
    the (id, idempotency key) of its labeler's annotation on its item, if any."""
    lock = " FOR UPDATE OF a" if connection.features.has_select_for_update_of else _locks()[0]
    sql = ("SELECT a.status, n.id, n.idempotency_key FROM annotation_assignment a"  # noqa: S608 - no input in the text
           " LEFT JOIN annotation_annotation n ON n.item_id = a.item_id AND n.labeler_id = a.labeler_id"
           " WHERE a.id = %s" + lock)
    rows, _ = _execute(sql, [assignment_id])
    if not rows:
        raise Assignment.DoesNotExist(f"assignment {assignment_id}")
    return rows[0]


def assignment_mark_submitted(*, assignment_id: int, item_id: int, now: datetime) -> None:
    _execute("UPDATE annotation_assignment SET status = %s, finished_at = %s WHERE id = %s",
             [AssignmentStatus.SUBMITTED.value, _when(now), assignment_id])
    _execute("UPDATE annotation_comparisonitem SET submitted_count = submitted_count + 1 WHERE id = %s",
             [item_id])
