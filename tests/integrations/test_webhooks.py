"""Webhook deliveries end to end against a real HTTP receiver on loopback:
signature, retries with exponential backoff, the delivery log, redelivery,
the test endpoint, redirects and the SSRF check at send time."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from annotation.events import event_emit
from audit.models import AuditEvent
from integrations.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from integrations.webhooks import services
from integrations.webhooks.signing import signature_verify


def subscribe(project, receiver, admin, *, path="/hook", events=("snapshot.built",)):
    subscription, secret = services.webhook_subscription_create(
        project=project, url=receiver.url + path, events=list(events), created_by=admin)
    receiver.secret = secret
    return subscription


def attempt(delivery, *, at=None):
    return services.webhook_delivery_attempt(delivery_id=delivery.pk, now=at)


@pytest.mark.django_db
def test_an_event_is_delivered_signed_to_each_subscription_that_wants_it(
        project, admin, receiver, loopback_allowed):
    subscription = subscribe(project, receiver, admin)
    services.webhook_subscription_create(project=project, url=receiver.url + "/other",
                                         events=["export.ready"], created_by=admin)
    event_id = event_emit(project_id=project.pk, name="snapshot.built", data={"snapshot_id": 7})
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.subscription == subscription and str(delivery.event_id) == event_id

    done = attempt(delivery)
    assert done.status == DeliveryStatus.SUCCEEDED and done.attempts == 1 and done.last_status_code == 200
    [got] = receiver.received
    assert got.path == "/hook" and got.signature_ok  # checked by the receiver's own HMAC code
    assert signature_verify(secret=receiver.secret, timestamp=got.headers["X-Palate-Timestamp"],
                            signature=got.headers["X-Palate-Signature"], body=got.body)
    assert got.headers["X-Palate-Event"] == "snapshot.built"
    assert got.headers["X-Palate-Delivery"] == event_id
    assert got.json == {"id": event_id, "event": "snapshot.built", "created_at": got.json["created_at"],
                        "project": {"id": project.pk, "slug": project.slug}, "data": {"snapshot_id": 7}}
    [logged] = done.attempt_log.all()
    assert logged.number == 1 and logged.status_code == 200 and logged.response_excerpt == '{"ok": true}'


@pytest.mark.django_db
def test_a_rolled_back_event_delivers_nothing(project, admin, receiver, loopback_allowed):
    subscribe(project, receiver, admin)
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(project_id=project.pk, name="snapshot.built", data={})
        raise RuntimeError("the service failed after emitting")
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_failures_are_retried_with_exponential_backoff_then_succeed(
        project, admin, receiver, loopback_allowed, settings):
    settings.PALATE_WEBHOOK_BACKOFF_SECONDS = 10
    subscribe(project, receiver, admin)
    receiver.plan = [500, 503]
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    delivery = WebhookDelivery.objects.get()

    first = attempt(delivery)
    assert first.status == DeliveryStatus.PENDING and first.last_status_code == 500
    wait = first.next_attempt_at - first.attempt_log.get().started_at
    assert timedelta(seconds=9) < wait < timedelta(seconds=12)
    assert attempt(delivery) is None  # not due yet: nothing claimed, nothing sent
    assert len(receiver.received) == 1

    second = attempt(delivery, at=first.next_attempt_at)
    assert second.status == DeliveryStatus.PENDING and second.last_status_code == 503
    wait = second.next_attempt_at - second.attempt_log.get(number=2).started_at
    assert timedelta(seconds=19) < wait < timedelta(seconds=22)  # doubled

    third = attempt(delivery, at=second.next_attempt_at)
    assert third.status == DeliveryStatus.SUCCEEDED and third.attempts == 3
    assert [a.status_code for a in third.attempt_log.all()] == [500, 503, 200]
    assert len({r.headers["X-Palate-Delivery"] for r in receiver.received}) == 1  # one event id
    assert all(r.signature_ok for r in receiver.received)


@pytest.mark.django_db
def test_a_delivery_fails_after_the_last_attempt(project, admin, receiver, loopback_allowed, settings):
    settings.PALATE_WEBHOOK_MAX_ATTEMPTS = 2
    subscribe(project, receiver, admin)
    receiver.plan = [500, 500]
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    delivery = WebhookDelivery.objects.get()
    first = attempt(delivery)
    last = attempt(delivery, at=first.next_attempt_at)
    assert last.status == DeliveryStatus.FAILED and last.finished_at
    assert "gave up after 2 attempts" in last.last_error
    assert services.backoff_seconds(30) == settings.PALATE_WEBHOOK_BACKOFF_MAX_SECONDS  # capped


@pytest.mark.django_db
def test_redirects_are_not_followed(project, admin, receiver, loopback_allowed):
    subscribe(project, receiver, admin, path="/redirect")
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    result = attempt(WebhookDelivery.objects.get())
    assert result.status == DeliveryStatus.PENDING and result.last_status_code == 302
    assert "not followed" in result.last_error
    assert [r.path for r in receiver.received] == ["/redirect"]  # /landing never requested


@pytest.mark.django_db
def test_the_target_is_checked_again_when_sending(project, admin, receiver, loopback_allowed, settings):
    subscribe(project, receiver, admin)
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    settings.PALATE_WEBHOOK_ALLOW_PRIVATE = False  # e.g. the name now resolves to loopback
    result = attempt(WebhookDelivery.objects.get())
    assert result.status == DeliveryStatus.PENDING and result.last_status_code is None
    assert result.last_error.startswith("target refused") and "127.0.0.1" in result.last_error
    assert receiver.received == []


@pytest.mark.django_db
def test_a_refused_connection_is_logged_and_retried(project, admin, receiver, loopback_allowed):
    subscribe(project, receiver, admin)
    url = receiver.url
    receiver.server.shutdown()
    receiver.server.server_close()  # nothing listens there now
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    result = attempt(WebhookDelivery.objects.get())
    assert result.status == DeliveryStatus.PENDING and "could not connect" in result.last_error
    assert url.startswith("http://127.0.0.1:")


@pytest.mark.django_db
def test_redelivery_sends_the_same_event_again_with_its_own_log(project, admin, receiver, loopback_allowed):
    subscribe(project, receiver, admin)
    event_emit(project_id=project.pk, name="snapshot.built", data={"snapshot_id": 1})
    original = attempt(WebhookDelivery.objects.get())
    copy = services.webhook_delivery_redeliver(delivery=original, actor=admin)
    assert copy.redelivery_of == original and copy.event_id == original.event_id
    assert attempt(copy).status == DeliveryStatus.SUCCEEDED
    first, second = receiver.received
    assert first.body == second.body and second.signature_ok
    assert AuditEvent.objects.filter(action="webhook.redeliver", actor_id=admin.pk).exists()


@pytest.mark.django_db
def test_a_disabled_subscription_gets_nothing_new_and_pending_deliveries_fail(
        project, admin, receiver, loopback_allowed):
    subscription = subscribe(project, receiver, admin)
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    services.webhook_subscription_update(subscription=subscription, is_active=False, actor=admin)
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    [delivery] = WebhookDelivery.objects.all()
    assert attempt(delivery).status == DeliveryStatus.FAILED and receiver.received == []


@pytest.mark.django_db
def test_queue_empty_is_sent_at_most_once_per_quiet_period(project, admin, receiver, loopback_allowed):
    subscription = subscribe(project, receiver, admin, events=["project.queue_empty"])
    for _ in range(3):
        event_emit(project_id=project.pk, name="project.queue_empty", data={})
    assert WebhookDelivery.objects.count() == 1
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        queue_empty_sent_at=timezone.now() - timedelta(hours=2))
    event_emit(project_id=project.pk, name="project.queue_empty", data={})
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.django_db
def test_the_sweep_resends_due_deliveries_and_frees_those_of_dead_workers(
        project, admin, receiver, loopback_allowed, django_capture_on_commit_callbacks):
    subscribe(project, receiver, admin)
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    event_emit(project_id=project.pk, name="snapshot.built", data={})
    lost, stuck = WebhookDelivery.objects.order_by("pk")
    long_ago = timezone.now() - timedelta(hours=1)
    WebhookDelivery.objects.filter(pk=stuck.pk).update(status=DeliveryStatus.SENDING, claimed_at=long_ago,
                                                       attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.webhook_deliveries_sweep()
    assert counts == {"released": 1, "sent": 2}
    # The re-sent tasks ran (eager Celery): both delivered, the stuck one on its second attempt.
    assert {d.status for d in WebhookDelivery.objects.all()} == {DeliveryStatus.SUCCEEDED}
    assert WebhookDelivery.objects.get(pk=stuck.pk).attempts == 2
    assert len(receiver.received) == 2


@pytest.mark.django_db
def test_deliveries_are_sent_by_the_celery_task_on_commit(
        project, admin, receiver, loopback_allowed, django_capture_on_commit_callbacks):
    subscribe(project, receiver, admin)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        event_emit(project_id=project.pk, name="snapshot.built", data={"n": 1})
    assert len(callbacks) == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
    assert json.loads(receiver.received[0].body)["data"] == {"n": 1}
