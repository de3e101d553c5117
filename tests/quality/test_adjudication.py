"""Adjudication: an admin's decision is recorded, takes the item out of the
queue, and overrides the consensus in snapshots; the API checks who and what."""

import pytest

from annotation.errors import Invalid
from annotation.models import Adjudication, ItemConsensus, Role, TaskType
from annotation.services.adjudication import item_adjudicate
from annotation.services.consensus import item_consensus_recompute
from annotation.services.datasets import dataset_snapshot_build
from tests.annotation.test_datasets import label_all
from tests.factories import items_make, member_add, project_make, user_make


@pytest.fixture
def disputed(project, items, labeler, labeler2):
    """Three items, two labels each: the first two prefer A, the last is split A / B."""
    label_all(project, [labeler, labeler2], lambda u, lease: {
        "strength": 2 if (lease.item_id == items[2].pk and u == labeler2) else -2})
    item_consensus_recompute(project=project, method="majority")
    return items


def url(project, item) -> str:
    return f"/api/projects/{project.pk}/items/{item.pk}/adjudication/"


def test_admin_adjudicates_through_the_api_and_the_item_leaves_the_queue(project, disputed, admin, api):
    assert ItemConsensus.objects.get(item=disputed[2]).needs_adjudication
    response = api(admin).post(url(project, disputed[2]), {"strength": 1, "note": "B is right"},
                               format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["strength"], body["note"], body["decided_by"]) == (1, "B is right", admin.username)
    assert not ItemConsensus.objects.get(item=disputed[2]).needs_adjudication
    listed = api(admin).get(f"/api/projects/{project.pk}/consensus/",
                            {"needs_adjudication": "true"}).json()
    assert listed["count"] == 0


def test_consensus_list_shows_the_decision_as_the_final_label(project, disputed, admin, api):
    item_adjudicate(project=project, item=disputed[2], decided_by=admin, data={"strength": 2})
    rows = {r["item"]: r for r in api(admin).get(f"/api/projects/{project.pk}/consensus/").json()["results"]}
    assert rows[disputed[2].pk]["final"] == {"source": "adjudication", "strength": 2, "ranking": None}
    assert rows[disputed[2].pk]["adjudication"]["decided_by"] == admin.username
    assert rows[disputed[0].pk]["final"]["source"] == "consensus"
    assert rows[disputed[0].pk]["final"]["strength"] == -2.0


def test_consensus_list_filters_and_orders_only_by_allowed_fields(project, disputed, engineer, api):
    client = api(engineer)
    base = f"/api/projects/{project.pk}/consensus/"
    flagged = client.get(base, {"needs_adjudication": "true"}).json()["results"]
    assert [r["item"] for r in flagged] == [disputed[2].pk]
    weakest_last = client.get(base, {"ordering": "-confidence"}).json()["results"]
    assert weakest_last[-1]["item"] == disputed[2].pk
    refused = client.get(base, {"ordering": "item__prompt__messages"})
    assert refused.status_code == 400 and refused.json()["field"] == "ordering"
    assert client.get(base, {"needs_adjudication": "maybe"}).json()["field"] == "needs_adjudication"


@pytest.mark.parametrize(("body", "field"), [
    ({"strength": 3}, "strength"),
    ({"strength": "1"}, "strength"),
    ({}, "strength"),
    ({"strength": 1, "ranking": [1, 2]}, "ranking"),
    ({"strength": 1, "note": "x" * 2001}, "note"),
])
def test_bad_decisions_are_refused_naming_the_field(project, disputed, admin, api, body, field):
    response = api(admin).post(url(project, disputed[2]), body, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert not Adjudication.objects.exists()


def test_gold_items_are_not_adjudicated(project, admin, api):
    gold = items_make(project, 1, is_gold=True, gold_answer={"min": -2, "max": -1})[0]
    response = api(admin).post(url(project, gold), {"strength": 1}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "item"


def test_an_item_of_another_project_is_not_found(project, admin, api):
    other = project_make(creator=user_make("adj_other"))
    foreign = items_make(other, 1)[0]
    response = api(admin).post(url(project, foreign), {"strength": 1}, format="json")
    assert response.status_code == 404
    assert not Adjudication.objects.exists()


def pair_of(snapshot, item):
    return snapshot.pairs.filter(item_id=item.pk).first()


def test_the_decision_overrides_the_consensus_in_snapshots(project, disputed, admin):
    before = dataset_snapshot_build(project=project, filters={"ties": "keep", "consensus": "majority"})
    assert pair_of(before, disputed[2]).is_tie  # split vote: a tie by majority
    item_adjudicate(project=project, item=disputed[2], decided_by=admin, data={"strength": 2})
    item_adjudicate(project=project, item=disputed[0], decided_by=admin, data={"strength": 1})
    after = dataset_snapshot_build(project=project, filters={"ties": "keep"})
    decided = pair_of(after, disputed[2])
    assert decided.chosen.startswith("Answer 1") and not decided.is_tie
    assert (decided.margin, decided.agreement) == (2.0, 1.0)
    overturned = pair_of(after, disputed[0])  # the labelers said A; the admin says B
    assert overturned.chosen.startswith("Answer 1") and overturned.margin == 1.0
    untouched = pair_of(after, disputed[1])
    assert untouched.chosen.startswith("Answer 0")
    assert after.content_hash != before.content_hash


def test_the_latest_decision_wins_and_a_decided_tie_follows_the_ties_filter(project, disputed, admin):
    item_adjudicate(project=project, item=disputed[0], decided_by=admin, data={"strength": 2})
    item_adjudicate(project=project, item=disputed[0], decided_by=admin, data={"strength": 0})
    assert pair_of(dataset_snapshot_build(project=project), disputed[0]) is None  # ties dropped
    kept = dataset_snapshot_build(project=project, filters={"ties": "keep"})
    assert pair_of(kept, disputed[0]).is_tie


def test_a_snapshot_rebuilt_later_ignores_decisions_made_after_it(project, disputed, admin):
    from annotation.services.datasets import dataset_snapshot_create, dataset_snapshot_fill

    snapshot = dataset_snapshot_create(project=project, filters={"ties": "keep", "consensus": "majority"})
    item_adjudicate(project=project, item=disputed[2], decided_by=admin, data={"strength": 2})
    dataset_snapshot_fill(snapshot=snapshot)
    assert pair_of(snapshot, disputed[2]).is_tie


def test_ranking_decision_overrides_the_mean_rank_pairs(db):
    admin = user_make("adj_rk_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3, overlap=2)
    labelers = [user_make("adj_rk_a"), user_make("adj_rk_b")]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    item = items_make(project, 1)[0]
    label_all(project, labelers, lambda u, lease: {"ranking": [1, 2, 3]})
    item_adjudicate(project=project, item=item, decided_by=admin, data={"ranking": [3, 1, 2]})
    pairs = dataset_snapshot_build(project=project).pairs.all()
    wins = {(p.chosen[:8], p.rejected[:8]) for p in pairs}
    assert wins == {("Answer 1", "Answer 0"), ("Answer 1", "Answer 2"), ("Answer 2", "Answer 0")}
    with pytest.raises(Invalid) as error:
        item_adjudicate(project=project, item=item, decided_by=admin, data={"ranking": [1, 2]})
    assert error.value.field == "ranking"


def test_consensus_list_queries_do_not_grow_with_the_rows(project, disputed, admin, api,
                                                          labeler, labeler2,
                                                          django_assert_max_num_queries):
    from annotation.models import ItemConsensus as Stored

    client = api(admin)
    item_adjudicate(project=project, item=disputed[2], decided_by=admin, data={"strength": 2})
    base = f"/api/projects/{project.pk}/consensus/"
    with django_assert_max_num_queries(12) as few:
        assert client.get(base).json()["count"] == 3
    items_make(project, 12)
    label_all(project, [labeler, labeler2], lambda u, lease: {"strength": 1})
    item_consensus_recompute(project=project, method="majority")
    for item in Stored.objects.filter(project=project)[:6]:
        item_adjudicate(project=project, item=item.item, decided_by=admin, data={"strength": -1})
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(base).json()["count"] == 15
