"""Queue priority: what the number means and every way it changes.

The queue hands out the open item with the highest ``priority`` first, then the
oldest (queue_sql.item_candidate, on the partial index ``item_queue_idx``).
Three things move it, all through this module:

- an admin sets it (page, API, item creation): any 32-bit integer, and it may
  go down as well as up;
- disagreement-first (a project setting): after each label, a disputed item is
  lifted to ``PRIORITY_SCALE`` × its disagreement, so it gets its remaining
  labels before fresh items do;
- active learning (training.active_learning): an item the project's reward
  model is unsure about is lifted to ``PRIORITY_SCALE`` × its uncertainty.

The automatic signals share one scale (a share in [0, 1] becomes 0..100) so
they compare with each other, and they only ever raise: one conditional UPDATE
(``priority < new``) per value, so a priority an admin set, or a higher one
from another signal, is never lowered, and a labeler's concurrent claim sees
the old or the new value, both valid. An admin who wants an item to wait sets a
negative priority, which no signal raises above its own value unless that item
is disputed or uncertain.
"""

from collections.abc import Iterable

from django.db import transaction

from annotation.errors import Invalid
from annotation.models import ComparisonItem
from audit.services import audit_record

PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1  # the column is a 32-bit integer
PRIORITY_SCALE = 100  # a share in [0, 1] (disagreement, model uncertainty) maps onto 0..100


def priority_clean(value, *, field: str = "priority") -> int:
    """An admin's priority from user input: a 32-bit integer, or Invalid naming ``field``."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise Invalid("must be a whole number", field=field) from None
    if isinstance(value, bool) or not isinstance(value, int) or not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise Invalid("must be a 32-bit integer", field=field)
    return value


def priority_for_share(share: float) -> int:
    """The priority an automatic signal asks for: its share in [0, 1] on the common scale."""
    return round(PRIORITY_SCALE * min(1.0, max(0.0, share)))


def disagreement_share(choices: list) -> float:
    """1 − the share of the most common choice: 0 when all agree (or fewer than two chose)."""
    if len(choices) < 2:
        return 0.0
    return 1 - max(choices.count(c) for c in set(choices)) / len(choices)


@transaction.atomic
def item_priority_set(*, item: ComparisonItem, priority: int, actor=None, via: str = "") -> ComparisonItem:
    """An admin's priority: replaces whatever the item had, up or down (audited,
    with the value it replaces)."""
    priority = priority_clean(priority)
    previous = ComparisonItem.objects.filter(pk=item.pk).values_list("priority", flat=True).first()
    ComparisonItem.objects.filter(pk=item.pk).update(priority=priority)
    item.priority = priority
    audit_record(actor, "item.priority_change", item, priority=priority, previous=previous, via=via)
    return item


def items_priority_raise(*, item_ids: Iterable[int], priority: int) -> int:
    """Raise the items to ``priority`` where they are below it; never lowers one.

    Returns how many rows rose. The condition sits in the UPDATE itself, so two
    signals racing each keep the higher value without a lock.
    """
    ids = list(item_ids)
    if priority <= 0 or not ids:
        return 0
    return ComparisonItem.objects.filter(pk__in=ids, priority__lt=priority).update(priority=priority)


def item_raise_disputed(*, item_id: int, choices: list) -> int:
    """Disagreement-first: lift the item to the scale × the disagreement of its
    labels' ``choices`` (one per label; None for a label with no choice)."""
    share = disagreement_share([c for c in choices if c is not None])
    return items_priority_raise(item_ids=[item_id], priority=priority_for_share(share))
