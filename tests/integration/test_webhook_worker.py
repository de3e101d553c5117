"""A webhook delivered by a real Celery worker process on Redis: the event is
committed here, the worker signs and POSTs it to a receiver on loopback, which
checks the signature with its own HMAC code."""

import uuid

import pytest
import redis

from annotation.events import event_emit
from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.webhooks.services import webhook_subscription_create
from tests.factories import project_make, user_make
from tests.integration.conftest import wait_for
from tests.integrations.receiver import receiver_start

pytestmark = pytest.mark.integration


def test_a_worker_delivers_a_signed_webhook(redis_url, celery_worker, producer_app, settings):
    settings.PALATE_WEBHOOK_ALLOW_PRIVATE = True
    receiver = receiver_start()
    queue = f"palate-it-{uuid.uuid4().hex}"
    try:
        admin = user_make("it_hook_admin")
        project = project_make(creator=admin)
        _, receiver.secret = webhook_subscription_create(
            project=project, url=receiver.url + "/hook", events=["snapshot.built"], created_by=admin)
        worker = celery_worker(env={"CELERY_BROKER_URL": redis_url, "PALATE_WEBHOOK_ALLOW_PRIVATE": "1"},
                               queue=queue)
        producer_app(broker_url=redis_url, queue=queue)
        event_id = event_emit(project_id=project.pk, name="snapshot.built", data={"snapshot_id": 1})
        wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).exists(),
                 worker=worker, timeout=30, what="the delivery marked succeeded by the worker")
        [got] = receiver.received
        assert got.signature_ok and got.headers["X-Palate-Delivery"] == event_id
        assert got.json["data"] == {"snapshot_id": 1}
        assert "integrations.tasks.webhook_delivery_attempt_task" in worker.log()
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()
