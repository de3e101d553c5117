"""The debounced quality recompute through a real Celery worker on Redis: a
burst of committed submissions queues one task whose countdown holds it back
until the window has passed, so the one run sees the whole burst."""

import time
import uuid

import pytest
import redis

from annotation.models import ItemConsensus, ProjectQuality, Role
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.factories import items_make, member_add, project_make, user_make
from tests.integration.conftest import drain, received_in_log, wait_for

pytestmark = pytest.mark.integration

WINDOW = 6


def test_a_burst_of_submissions_gives_one_recompute_after_the_countdown(
        redis_url, celery_worker, producer_app, settings):
    settings.PALATE_QUALITY_DEBOUNCE_SECONDS = WINDOW
    queue = f"palate-it-{uuid.uuid4().hex}"
    admin = user_make("itq_admin")
    project = project_make(creator=admin, overlap=2)
    labelers = [user_make("itq_a"), user_make("itq_b")]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    items_make(project, 5)
    worker = celery_worker(env={"CELERY_BROKER_URL": redis_url}, queue=queue)
    producer_app(broker_url=redis_url, queue=queue)
    try:
        started = time.monotonic()
        submitted = 0
        for user in labelers:  # each submit commits on its own: its on-commit hook runs
            while (lease := item_claim_next(project=project, labeler=user)) is not None:
                annotation_submit(assignment=lease, data={"strength": -1},
                                  idempotency_key=new_idempotency_key())
                submitted += 1
        burst = time.monotonic() - started
        assert submitted == 10
        if burst < WINDOW - 1:  # the countdown still holds the task back
            assert ProjectQuality.objects.get(project=project).runs == 0
        wait_for(lambda: ProjectQuality.objects.get(project=project).runs >= 1, worker=worker,
                 timeout=WINDOW + 30, what="the debounced recompute")
        # A second task would have been queued with its own countdown and received by the
        # worker at once: once a task sent last has run, every earlier one was received.
        drain(worker)
        assert received_in_log(worker, "annotation.tasks.project_quality_recompute_task") == 1
        state = ProjectQuality.objects.get(project=project)
        assert state.runs == 1
        assert state.report["n_annotations"] == 10  # the one run saw the whole burst
        assert ItemConsensus.objects.filter(project=project).count() == 5
        assert worker.log().count("project_quality_recompute_task") >= 1
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()
