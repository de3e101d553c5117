"""Per-labeler caps refuse `next` with the reason, within the hot path's query
budget; an item taken out of the queue is handed to no one (gold or not), its
live leases end, and it comes back when restored. Both through the API."""

from datetime import timedelta

import pytest

from annotation.models import Annotation, Assignment, AssignmentStatus, ComparisonItem
from annotation.services.label_caps import LabelCapReached
from annotation.services.queue import item_claim_next, item_remove_from_queue, item_restore_to_queue
from audit.models import AuditEvent
from tests.annotation.test_api_labeling import ask_next, submit
from tests.conftest import client_for
from tests.factories import items_make


def label_one(client, project, strength=1):
    response = ask_next(client, project)
    assert response.status_code == 200, response.content
    assert submit(client, response.json()["assignment"], strength=strength).status_code == 201


def test_the_daily_cap_refuses_next_with_its_reason_and_a_live_lease_stays(project, labeler, labeler2):
    project.daily_label_cap = 2
    project.save()
    items_make(project, 4)
    client = client_for(labeler)
    label_one(client, project)
    leased = ask_next(client, project).json()["assignment"]
    assert ask_next(client, project).json()["assignment"] == leased  # asked twice: the same lease
    assert submit(client, leased, strength=-1).status_code == 201
    refused = ask_next(client, project)
    assert refused.status_code == 409
    assert refused.json()["code"] == "label_cap_reached" and "Daily cap reached" in refused.json()["detail"]
    assert not Assignment.objects.filter(labeler=labeler, status=AssignmentStatus.LEASED).exists()
    # Yesterday's labels do not count against today; another labeler has their own cap.
    Annotation.objects.filter(labeler=labeler).update(created_at=project.created_at - timedelta(days=1))
    assert ask_next(client, project).status_code == 200
    assert ask_next(client_for(labeler2), project).status_code == 200


def test_the_total_cap_and_no_cap(project, labeler):
    items_make(project, 3)
    project.total_label_cap = 1
    project.save()
    client = client_for(labeler)
    label_one(client, project)
    Annotation.objects.filter(labeler=labeler).update(created_at=project.created_at - timedelta(days=1))
    with pytest.raises(LabelCapReached, match="Total cap reached"):
        item_claim_next(project=project, labeler=labeler)
    assert item_claim_next(project=project, labeler=labeler, caps=False) is not None  # the AI judge
    project.total_label_cap = None
    project.save()
    assert ask_next(client, project).status_code == 200


@pytest.mark.parametrize("count", [2, 30])
def test_capped_next_stays_within_the_query_budget(project, labeler, count, django_assert_max_num_queries):
    """One aggregate more than the uncapped bound (10 / 7 in test_api_labeling), and
    none when the live lease comes back."""
    project.daily_label_cap = 5
    project.total_label_cap = 100
    project.save()
    items_make(project, count)
    client = client_for(labeler)
    client.get("/api/me/")
    with django_assert_max_num_queries(11):
        assert ask_next(client, project).status_code == 200
    with django_assert_max_num_queries(7):
        assert ask_next(client, project).status_code == 200


def test_caps_are_set_through_the_api_and_checked(project, admin, api):
    url = f"/api/projects/{project.pk}/"
    response = api(admin).patch(url, {"daily_label_cap": 40, "total_label_cap": None}, format="json")
    assert response.status_code == 200 and response.json()["daily_label_cap"] == 40
    assert api(admin).patch(url, {"daily_label_cap": 0}, format="json").status_code == 400
    project.refresh_from_db()
    assert (project.daily_label_cap, project.total_label_cap) == (40, None)


def test_a_removed_item_ends_its_leases_is_handed_to_no_one_and_comes_back(project, admin, labeler,
                                                                          labeler2, api):
    item = items_make(project, 1)[0]
    lease = ask_next(client_for(labeler), project).json()["assignment"]
    url = f"/api/projects/{project.pk}/items/{item.pk}/"
    body = api(admin).patch(url, {"in_queue": False}, format="json").json()
    assert body["removed_at"] is not None and body["is_open"] is False
    assert Assignment.objects.get(pk=lease).status == AssignmentStatus.EXPIRED
    assert ComparisonItem.objects.get(pk=item.pk).assigned_count == 0
    late = submit(client_for(labeler), lease, strength=1)  # its slot cannot be taken back
    assert late.status_code == 409 and late.json()["code"] == "lease_expired"
    assert ask_next(client_for(labeler2), project).status_code == 204
    event = AuditEvent.objects.get(action="item.remove_from_queue")
    assert (str(event.target_id), event.details["leases_ended"]) == (str(item.pk), 1)
    assert event.actor_id == admin.pk
    body = api(admin).patch(url, {"in_queue": True}, format="json").json()
    assert body["removed_at"] is None and body["is_open"] is True
    assert ask_next(client_for(labeler2), project).json()["item"] == item.pk
    assert AuditEvent.objects.filter(action="item.restore_to_queue").count() == 1


def test_a_removed_gold_item_is_not_served_and_removing_twice_changes_nothing(project, admin, labeler):
    project.gold_rate = 1.0
    project.save()
    gold = items_make(project, 1, is_gold=True, gold_answer={"strength": 1})[0]
    item_remove_from_queue(item=gold, actor=admin)
    item_remove_from_queue(item=gold, actor=admin)
    assert AuditEvent.objects.filter(action="item.remove_from_queue").count() == 1
    assert item_claim_next(project=project, labeler=labeler) is None
    item_restore_to_queue(item=gold, actor=admin)
    assert item_claim_next(project=project, labeler=labeler).item_id == gold.pk


@pytest.mark.parametrize("persona, status", [("labeler", 403), ("outsider", 404), ("engineer", 403)])
def test_only_admins_take_items_out_of_the_queue(project, persona, status, api, request):
    item = items_make(project, 1)[0]
    response = api(request.getfixturevalue(persona)).patch(
        f"/api/projects/{project.pk}/items/{item.pk}/", {"in_queue": False}, format="json")
    assert response.status_code == status
    assert ComparisonItem.objects.get(pk=item.pk).removed_at is None
