"""A real Celery worker exports its own metrics: it beats in the database while
it runs, records its tasks in the shared multiprocess directory, and /metrics
in this process reports both."""

import uuid

import pytest
import redis
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from annotation.tasks import leases_reclaim_expired_task
from integrations.models import WorkerHeartbeat
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def scrape() -> dict:
    answer = Client().get("/metrics")
    assert answer.status_code == 200
    return {f.name: f.samples for f in text_string_to_metric_families(answer.content.decode())}


def test_a_worker_beats_and_its_tasks_are_counted(redis_url, celery_worker, producer_app, settings_override):
    queue = f"palate-it-{uuid.uuid4().hex}"
    worker = celery_worker(env={"CELERY_BROKER_URL": redis_url, "PALATE_WORKER_HEARTBEAT_SECONDS": "1",
                                "PROMETHEUS_MULTIPROC_DIR": str(settings.PALATE_METRICS_DIR)}, queue=queue)
    producer_app(broker_url=redis_url, queue=queue)
    try:
        wait_for(lambda: WorkerHeartbeat.objects.filter(queues=queue).exists(), worker=worker, timeout=20,
                 what="the worker's heartbeat row")
        leases_reclaim_expired_task.delay()
        task = "annotation.tasks.leases_reclaim_expired_task"

        def counted() -> bool:
            samples = scrape().get("palate_celery_tasks", [])
            return any(s.labels == {"task": task, "state": "SUCCESS"} and s.value >= 1 for s in samples)

        wait_for(counted, worker=worker, timeout=30, what="the worker's task in /metrics")
        families = scrape()
        [age] = [s for s in families["palate_worker_heartbeat_age_seconds"] if s.labels["queues"] == queue]
        assert 0 <= age.value < 10
        worker.stop()  # a clean shutdown removes its row: no stale-worker alert for it
        assert not WorkerHeartbeat.objects.filter(queues=queue).exists()
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def settings_override(settings):
    settings.PALATE_METRICS_ALLOW = ["127.0.0.1"]
    return settings
