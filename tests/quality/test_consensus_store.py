"""Stored per-item consensus: computed from the annotations by the quality
functions, one row per labeled item, weak items flagged for adjudication."""

import pytest

from annotation.errors import Invalid
from annotation.models import Annotation, ItemConsensus, Role, TaskType
from annotation.services.adjudication import item_adjudicate
from annotation.services.consensus import item_consensus_recompute
from tests.annotation.test_datasets import label_all
from tests.factories import items_make, member_add, project_make, user_make

# Per item (by position), the strengths the three labelers give.
VOTES = [
    (-2, -2, -1),  # unanimous A
    (2, 1, -2),  # two for B, one for A
    (-1, 1, 0),  # A, B, tie: no side has support
    (1, 1, 1),  # unanimous B
]


@pytest.fixture
def voted(db):
    admin = user_make("cs_admin")
    project = project_make(creator=admin, overlap=3)
    labelers = [user_make(f"cs_lab{i}") for i in range(3)]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    items = items_make(project, len(VOTES))
    items_make(project, 1, is_gold=True, gold_answer={"min": -2, "max": -1})
    position = {item.pk: k for k, item in enumerate(items)}
    label_all(project, labelers, lambda u, lease: {
        "strength": VOTES[position[lease.item_id]][labelers.index(u)]
        if lease.item_id in position else -2})
    return project, items, admin


def rows(project) -> dict:
    return {c.item_id: c for c in ItemConsensus.objects.filter(project=project)}


def test_majority_consensus_is_stored_per_item_with_its_support(voted):
    project, items, _ = voted
    summary = item_consensus_recompute(project=project, method="majority")
    stored = rows(project)
    assert set(stored) == {item.pk for item in items}  # the gold item has none
    first, second, third, fourth = (stored[item.pk] for item in items)
    assert (first.label, first.agreement, first.n_labels) == (-1, 1.0, 3)
    assert first.strength == pytest.approx(-5 / 3)  # minus the mean |strength| on side A
    assert (second.label, second.confidence) == (1, pytest.approx(2 / 3))
    assert second.strength == pytest.approx(1.5)
    assert (third.label, third.confidence) == (0, pytest.approx(1 / 3))
    assert fourth.label == 1 and not fourth.needs_adjudication
    assert [s.needs_adjudication for s in (first, second, third)] == [False, False, True]
    assert summary == {"method": "majority", "n_items": 4, "n_flagged": 1, "threshold": 0.6,
                       "min_labels": 2}


def test_mean_consensus_stores_the_mean_strength(voted):
    project, items, _ = voted
    item_consensus_recompute(project=project, method="mean")
    second = rows(project)[items[1].pk]
    assert second.strength == pytest.approx(1 / 3) and second.label == 0  # inside the tie band
    assert second.method == "mean"


def test_dawid_skene_is_the_default_for_pairwise_projects(voted):
    project, items, _ = voted
    assert item_consensus_recompute(project=project)["method"] == "dawid_skene"
    stored = rows(project)
    assert stored[items[0].pk].label == -1 and stored[items[3].pk].label == 1
    assert all(0 <= c.confidence <= 1 for c in stored.values())


def test_a_recompute_replaces_rows_and_drops_items_that_lost_their_labels(voted):
    project, items, _ = voted
    item_consensus_recompute(project=project, method="majority")
    Annotation.objects.filter(item=items[3]).delete()
    Annotation.objects.filter(item=items[2]).exclude(strength=-1).delete()
    item_consensus_recompute(project=project, method="majority")
    stored = rows(project)
    assert items[3].pk not in stored
    assert (stored[items[2].pk].label, stored[items[2].pk].n_labels) == (-1, 1)
    assert not stored[items[2].pk].needs_adjudication  # one label: nothing to adjudicate yet


def test_an_adjudicated_item_is_not_flagged_again(voted):
    project, items, admin = voted
    item_consensus_recompute(project=project, method="majority")
    assert rows(project)[items[2].pk].needs_adjudication
    item_adjudicate(project=project, item=items[2], decided_by=admin, data={"strength": 1})
    assert not rows(project)[items[2].pk].needs_adjudication
    item_consensus_recompute(project=project, method="majority")
    assert not rows(project)[items[2].pk].needs_adjudication


def test_an_unknown_method_is_refused_by_name(voted):
    project, _, _ = voted
    with pytest.raises(Invalid) as error:
        item_consensus_recompute(project=project, method="vibes")
    assert error.value.field == "method"


def test_ranking_consensus_orders_by_mean_rank(db):
    admin = user_make("rc_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3, overlap=2)
    labelers = [user_make("rc_a"), user_make("rc_b")]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    agreed, split = items_make(project, 2)
    label_all(project, labelers, lambda u, lease: {"ranking": [1, 2, 3] if lease.item_id == agreed.pk
                                                   else ([1, 2, 3] if u == labelers[0] else [3, 2, 1])})
    assert item_consensus_recompute(project=project)["method"] == "weighted_rank"  # the default
    assert item_consensus_recompute(project=project, method="mean")["method"] == "mean"
    stored = rows(project)
    assert stored[agreed.pk].ranking == [1, 2, 3] and stored[agreed.pk].confidence == 1.0
    assert stored[split.pk].ranking == [1, 1, 1]  # equal mean ranks tie
    assert stored[split.pk].needs_adjudication
    with pytest.raises(Invalid):
        item_consensus_recompute(project=project, method="majority")
