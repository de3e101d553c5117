from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Annotation, Assignment, AssignmentStatus, ComparisonItem, Role
from annotation.services.queue import (
    assignment_skip,
    item_claim_next,
    leases_reclaim_expired,
    new_idempotency_key,
)
from annotation.services.submissions import LeaseExpired, annotation_submit
from tests.factories import items_make, member_add, user_make

PREFER_A = {"strength": -1}


def submit(assignment, data=PREFER_A, key=None):
    return annotation_submit(assignment=assignment, data=dict(data),
                             idempotency_key=key or new_idempotency_key())


def expire(assignment):
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))


def test_next_returns_highest_priority_then_oldest(project, labeler):
    low_old, low_new = items_make(project, 2)
    high = items_make(project, 1, priority=5)[0]
    first = item_claim_next(project=project, labeler=labeler)
    assert first.item_id == high.pk
    submit(first)
    second = item_claim_next(project=project, labeler=labeler)
    assert second.item_id == low_old.pk


def test_asking_again_returns_the_same_live_lease(project, items, labeler):
    first = item_claim_next(project=project, labeler=labeler)
    again = item_claim_next(project=project, labeler=labeler)
    assert again.pk == first.pk
    assert Assignment.objects.filter(labeler=labeler).count() == 1


def test_overlap_is_never_exceeded(project, items):
    # overlap is 2: the third labeler gets another item, never the full one.
    users = [user_make(f"l{i}") for i in range(5)]
    for user in users:
        member_add(project, user, Role.LABELER)
    claims = [item_claim_next(project=project, labeler=u) for u in users]
    per_item = {}
    for claim in claims:
        if claim is not None:
            per_item[claim.item_id] = per_item.get(claim.item_id, 0) + 1
    assert max(per_item.values()) <= project.overlap
    assert sum(per_item.values()) == 5
    for item in ComparisonItem.objects.filter(project=project):
        assert item.assigned_count == per_item.get(item.pk, 0)
        assert item.is_open == (item.assigned_count < project.overlap)


def test_queue_runs_dry_when_every_item_is_full(project, labeler, labeler2):
    items_make(project, 1)
    project.overlap = 1
    project.save()
    assert item_claim_next(project=project, labeler=labeler) is not None
    assert item_claim_next(project=project, labeler=labeler2) is None


def test_labeler_never_sees_an_item_twice(project, items, labeler):
    seen = []
    while (lease := item_claim_next(project=project, labeler=labeler)) is not None:
        seen.append(lease.item_id)
        submit(lease)
    assert sorted(seen) == sorted(i.pk for i in items)


def test_skipped_item_is_released_and_not_offered_again(project, labeler, labeler2):
    item = items_make(project, 1)[0]
    project.overlap = 1
    project.save()
    lease = item_claim_next(project=project, labeler=labeler)
    assert item_claim_next(project=project, labeler=labeler2) is None
    assignment_skip(assignment=lease)
    item.refresh_from_db()
    assert item.assigned_count == 0 and item.is_open
    assert item_claim_next(project=project, labeler=labeler) is None
    assert item_claim_next(project=project, labeler=labeler2).item_id == item.pk


def test_skip_after_submit_is_refused(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    submit(lease)
    with pytest.raises(Conflict):
        assignment_skip(assignment=lease)


def test_expired_leases_are_reclaimed_and_the_item_returns(project, labeler, labeler2):
    item = items_make(project, 1)[0]
    project.overlap = 1
    project.save()
    lease = item_claim_next(project=project, labeler=labeler)
    expire(lease)
    assert leases_reclaim_expired() == 1
    lease.refresh_from_db()
    item.refresh_from_db()
    assert lease.status == AssignmentStatus.EXPIRED
    assert item.assigned_count == 0 and item.is_open
    assert item_claim_next(project=project, labeler=labeler2).item_id == item.pk


def test_claim_reclaims_expired_leases_when_the_queue_looks_empty(project, labeler, labeler2):
    item = items_make(project, 1)[0]
    project.overlap = 1
    project.save()
    expire(item_claim_next(project=project, labeler=labeler))
    assert item_claim_next(project=project, labeler=labeler2).item_id == item.pk


def test_expired_lease_is_not_returned_as_live(project, items, labeler):
    first = item_claim_next(project=project, labeler=labeler)
    expire(first)
    second = item_claim_next(project=project, labeler=labeler)
    assert second.pk != first.pk


def test_same_idempotency_key_returns_the_same_annotation(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    first, created = submit(lease, key="key-00000001")
    again, created_again = submit(lease, key="key-00000001")
    assert created and not created_again
    assert again.pk == first.pk
    assert Annotation.objects.filter(labeler=labeler).count() == 1
    item = ComparisonItem.objects.get(pk=lease.item_id)
    assert item.submitted_count == 1


def test_second_submission_with_a_new_key_is_a_conflict(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    submit(lease)
    with pytest.raises(Conflict):
        submit(lease)
    assert Annotation.objects.filter(labeler=labeler).count() == 1


def test_key_reused_on_another_item_is_a_conflict(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    submit(lease, key="shared-key-1")
    other = item_claim_next(project=project, labeler=labeler)
    with pytest.raises(Conflict):
        submit(other, key="shared-key-1")


def test_late_submit_accepted_while_the_item_still_needs_labels(project, labeler):
    item = items_make(project, 1)[0]
    lease = item_claim_next(project=project, labeler=labeler)
    expire(lease)
    leases_reclaim_expired()
    annotation, created = submit(lease)
    assert created
    item.refresh_from_db()
    assert item.assigned_count == 1 and item.submitted_count == 1


def test_late_submit_before_reclaim_keeps_its_slot(project, labeler, labeler2):
    item = items_make(project, 1)[0]
    project.overlap = 1
    project.save()
    lease = item_claim_next(project=project, labeler=labeler)
    expire(lease)
    _, created = submit(lease)
    assert created
    item.refresh_from_db()
    assert item.assigned_count == 1 and not item.is_open


def test_late_submit_refused_when_the_item_is_full(project, labeler, labeler2):
    item = items_make(project, 1)[0]
    project.overlap = 1
    project.save()
    lease = item_claim_next(project=project, labeler=labeler)
    expire(lease)
    leases_reclaim_expired()
    submit(item_claim_next(project=project, labeler=labeler2))
    with pytest.raises(LeaseExpired):
        submit(lease)
    item.refresh_from_db()
    assert item.assigned_count == 1
    assert not Annotation.objects.filter(labeler=labeler).exists()


def test_submit_on_a_skipped_lease_is_refused(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    assignment_skip(assignment=lease)
    with pytest.raises(Conflict):
        submit(lease)


def test_display_order_is_a_permutation_copied_to_the_annotation(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    assert sorted(lease.display_order) == [0, 1]
    annotation, _ = submit(lease)
    assert annotation.display_order == lease.display_order


def test_gold_items_are_served_at_the_project_rate(project, labeler):
    items_make(project, 30)
    items_make(project, 10, is_gold=True, gold_answer={"strength": -2})
    project.gold_rate = 0.25
    project.save()
    served = []
    for _ in range(20):
        lease = item_claim_next(project=project, labeler=labeler)
        served.append(lease.is_gold)
        submit(lease)
    assert sum(served) in (4, 5, 6)
    assert served[:4].count(True) <= 2


def test_gold_items_ignore_overlap(project, labeler, labeler2):
    gold = items_make(project, 1, is_gold=True, gold_answer={"min": -2, "max": -1})[0]
    project.gold_rate = 1.0
    project.overlap = 1
    project.save()
    for user in (labeler, labeler2):
        lease = item_claim_next(project=project, labeler=user)
        assert lease.item_id == gold.pk
        submit(lease)
    gold.refresh_from_db()
    assert gold.submitted_count == 2


def test_gold_rate_zero_never_serves_gold(project, labeler):
    items_make(project, 1, is_gold=True, gold_answer={"strength": 1})
    assert item_claim_next(project=project, labeler=labeler) is None


def test_disagreement_first_serves_disputed_items_before_fresh_ones(project, labeler, labeler2):
    third = user_make("third_lab")
    member_add(project, third, Role.LABELER)
    project.overlap = 3
    project.disagreement_first = True
    project.save()
    disputed, agreed, fresh = items_make(project, 3)
    for user, strengths in ((labeler, {disputed.pk: -2, agreed.pk: -1}),
                            (labeler2, {disputed.pk: 2, agreed.pk: -2})):
        for _ in range(2):
            lease = item_claim_next(project=project, labeler=user)
            submit(lease, {"strength": strengths[lease.item_id]})
    disputed.refresh_from_db()
    agreed.refresh_from_db()
    assert disputed.priority == 50 and agreed.priority == 0
    assert item_claim_next(project=project, labeler=third).item_id == disputed.pk


def test_without_the_option_priorities_stay(project, labeler, labeler2):
    item = items_make(project, 1)[0]
    for user, strength in ((labeler, -2), (labeler2, 2)):
        submit(item_claim_next(project=project, labeler=user), {"strength": strength})
    item.refresh_from_db()
    assert item.priority == 0
