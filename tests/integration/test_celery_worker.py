"""The lease reclaim task through a real Celery worker process, on the Redis
broker (production) and on kombu's filesystem broker (`make run`'s default)."""

import uuid
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, ComparisonItem, Role
from annotation.services.queue import item_claim_next
from annotation.tasks import leases_reclaim_expired_task
from tests.factories import items_make, member_add, project_make, user_make
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

RECLAIM_TIMEOUT = 30.0


def expired_lease() -> Assignment:
    """A committed lease that ran out a minute ago, holding one of its item's slots."""
    admin, labeler = user_make("it_admin"), user_make("it_labeler")
    project = project_make(creator=admin, overlap=2, lease_seconds=600)
    member_add(project, labeler, Role.LABELER)
    items_make(project, 1)
    assignment = item_claim_next(project=project, labeler=labeler)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1))
    assert ComparisonItem.objects.get(pk=assignment.item_id).assigned_count == 1
    return assignment


def reclaimed(assignment: Assignment) -> bool:
    status = Assignment.objects.values_list("status", flat=True).get(pk=assignment.pk)
    item = ComparisonItem.objects.get(pk=assignment.item_id)
    return status == AssignmentStatus.EXPIRED and item.assigned_count == 0 and item.is_open


def test_worker_on_redis_reclaims_an_expired_lease(redis_url, celery_worker, producer_app):
    queue = f"palate-it-{uuid.uuid4().hex}"
    assignment = expired_lease()
    worker = celery_worker(env={"CELERY_BROKER_URL": redis_url}, queue=queue)
    producer_app(broker_url=redis_url, queue=queue)
    try:
        leases_reclaim_expired_task.delay()
        wait_for(lambda: reclaimed(assignment), worker=worker, timeout=RECLAIM_TIMEOUT,
                 what="the expired lease reclaimed by the worker")
        wait_for(lambda: "succeeded" in worker.log(), worker=worker, timeout=10,
                 what="the task's success in the worker log")
    finally:
        # Redis keeps nothing on disk here, but leave no queue behind for the next run.
        # The queue name is unique, so every key that names it is this test's.
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()
    assert "annotation.tasks.leases_reclaim_expired_task" in worker.log()


def test_worker_on_filesystem_broker_reclaims_an_expired_lease(celery_worker, producer_app, tmp_path):
    # The embedded default: no CELERY_BROKER_URL, the broker is a folder under
    # PALATE_VAR_DIR that the worker (config.settings) and this producer share.
    broker = tmp_path / "var" / "broker"
    assignment = expired_lease()
    worker = celery_worker(env={})
    assert "filesystem://" in worker.log()
    producer_app(broker_url="filesystem://", transport_options={
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "processed_folder": str(broker / "processed"),
        # Without it kombu writes its exchange table to ./control in the cwd.
        "control_folder": str(broker / "control"),
        "store_processed": False,
    })
    leases_reclaim_expired_task.delay()
    wait_for(lambda: reclaimed(assignment), worker=worker, timeout=RECLAIM_TIMEOUT,
             what="the expired lease reclaimed by the worker")
    wait_for(lambda: "succeeded" in worker.log(), worker=worker, timeout=10,
             what="the task's success in the worker log")
