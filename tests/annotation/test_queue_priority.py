"""Queue priority has one home (annotation.services.queue_priority): an admin's
value replaces, the automatic signals share one scale and only raise."""

import pytest

from annotation.errors import Invalid
from annotation.models import ComparisonItem
from annotation.services.queue_priority import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    PRIORITY_SCALE,
    disagreement_share,
    item_priority_set,
    item_raise_disputed,
    items_priority_raise,
    priority_clean,
    priority_for_share,
)
from tests.factories import items_make


def priorities(items) -> list[int]:
    return [ComparisonItem.objects.get(pk=i.pk).priority for i in items]


def test_a_raise_lifts_only_the_items_below_it(project):
    low, admin_set, negative = items_make(project, 3)
    item_priority_set(item=admin_set, priority=500)
    item_priority_set(item=negative, priority=-10)
    assert items_priority_raise(item_ids=[low.pk, admin_set.pk, negative.pk], priority=40) == 2
    assert priorities([low, admin_set, negative]) == [40, 500, 40]
    # A lower signal later never lowers what an earlier one raised.
    assert items_priority_raise(item_ids=[low.pk], priority=10) == 0
    assert items_priority_raise(item_ids=[low.pk], priority=0) == 0
    assert priorities([low]) == [40]


def test_an_admin_may_lower_a_priority_within_32_bits(project):
    item = items_make(project, 1)[0]
    items_priority_raise(item_ids=[item.pk], priority=90)
    assert item_priority_set(item=item, priority=-3).priority == -3 and priorities([item]) == [-3]
    assert priority_clean(" 7 ") == 7 and priority_clean(PRIORITY_MIN) == PRIORITY_MIN
    for bad in (PRIORITY_MAX + 1, PRIORITY_MIN - 1, True, 1.5, "x"):
        with pytest.raises(Invalid) as error:
            item_priority_set(item=item, priority=bad)
        assert error.value.field == "priority"
    assert priorities([item]) == [-3]


def test_the_signals_share_one_scale():
    assert (priority_for_share(0), priority_for_share(0.5), priority_for_share(1)) == (0, 50, PRIORITY_SCALE)
    assert priority_for_share(1.7) == PRIORITY_SCALE and priority_for_share(-1) == 0
    assert disagreement_share(["a", "b"]) == 0.5 and disagreement_share(["a"]) == 0.0
    assert disagreement_share(["a", "a", "b"]) == pytest.approx(1 / 3)


def test_a_disputed_item_rises_by_its_disagreement_and_ignores_empty_choices(project):
    item = items_make(project, 1)[0]
    assert item_raise_disputed(item_id=item.pk, choices=[1, -1, None, 1]) == 1
    assert priorities([item]) == [priority_for_share(1 / 3)]
