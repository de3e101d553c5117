"""The queue under real concurrency: threads with their own PostgreSQL
connections claiming and submitting at once."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.db.models import Q

from annotation.models import Annotation, Assignment, AssignmentStatus, ComparisonItem, Role
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.factories import items_make, member_add, project_make, user_make

THREADS = 32

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        # config/settings_test.py already fails the run under CI without PostgreSQL.
        pytest.skip("row-lock concurrency needs PostgreSQL")


def run_threads(target, args_list):
    barrier = threading.Barrier(len(args_list))
    errors = []

    def wrapper(*args):
        try:
            barrier.wait()
            target(*args)
        except Exception as error:  # noqa: BLE001 - surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapper, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    assert not errors, errors


def test_32_labelers_claiming_and_submitting_never_over_assign():
    admin = user_make("conc_admin")
    project = project_make(creator=admin, overlap=3)
    items = items_make(project, 40)
    labelers = [user_make(f"conc_{i}") for i in range(THREADS)]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    acknowledged = Counter()

    def label_until_empty(user):
        while (lease := item_claim_next(project=project, labeler=user)) is not None:
            lease.labeler = user
            annotation, created = annotation_submit(
                assignment=lease, data={"strength": 1}, idempotency_key=new_idempotency_key())
            assert created
            acknowledged[annotation.pk] += 1

    run_threads(label_until_empty, [(u,) for u in labelers])

    per_item = Counter(Annotation.objects.values_list("item_id", flat=True))
    over_assigned = [i for i, n in per_item.items() if n > project.overlap]
    assert over_assigned == []
    # Every item got exactly its overlap, every acknowledged submit is stored once.
    assert per_item == {item.pk: project.overlap for item in items}
    assert sorted(acknowledged) == sorted(Annotation.objects.values_list("pk", flat=True))
    assert set(acknowledged.values()) == {1}
    live = Assignment.objects.exclude(
        Q(status=AssignmentStatus.SKIPPED) | Q(status=AssignmentStatus.EXPIRED))
    assert max(Counter(live.values_list("item_id", flat=True)).values()) == project.overlap
    for item in ComparisonItem.objects.filter(project=project):
        assert item.assigned_count == item.submitted_count == project.overlap
        assert not item.is_open


def test_one_labeler_asking_32_times_at_once_gets_one_lease():
    admin = user_make("burst_admin")
    project = project_make(creator=admin)
    items_make(project, 10)
    user = user_make("burst_lab")
    member_add(project, user, Role.LABELER)
    leases = []

    run_threads(lambda: leases.append(item_claim_next(project=project, labeler=user).pk),
                [()] * THREADS)

    assert len(set(leases)) == 1
    assert Assignment.objects.filter(labeler=user).count() == 1


def test_32_concurrent_retries_of_one_submit_store_one_annotation():
    admin = user_make("retry_admin")
    project = project_make(creator=admin)
    items_make(project, 1)
    user = user_make("retry_lab")
    member_add(project, user, Role.LABELER)
    lease = item_claim_next(project=project, labeler=user)
    results = []

    def retry():
        fresh = Assignment.objects.select_related("project", "labeler").get(pk=lease.pk)
        annotation, created = annotation_submit(assignment=fresh, data={"strength": -2},
                                                idempotency_key="double-click-key")
        results.append((annotation.pk, created))

    run_threads(retry, [()] * THREADS)

    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Annotation.objects.filter(labeler=user).count() == 1
    assert ComparisonItem.objects.get(pk=lease.item_id).submitted_count == 1
