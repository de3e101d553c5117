"""Webhook subscriptions and deliveries.

A project event (annotation.events) becomes one WebhookDelivery row per
subscription that wants it, written in the emitting service's transaction and
sent by a Celery task on commit. A worker claims the row with a
compare-and-set (pending and due -> sending) and makes one attempt: 2xx is
success; anything else (an error status, a redirect, a refused or unreachable
target) is retried after ``PALATE_WEBHOOK_BACKOFF_SECONDS × 2^(attempt-1)``
(capped) until ``PALATE_WEBHOOK_MAX_ATTEMPTS``. A beat sweep re-sends due rows
whose message the broker lost and frees rows whose worker died mid-request.
"""

import json
import logging
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotation.errors import Invalid
from annotation.events import EVENTS, TEST_EVENT, event_name_check
from annotation.models import Project
from audit.services import audit_record
from core.jobs.sending import task_send
from integrations.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from integrations.webhooks.sending import signed_post
from integrations.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_compute,
)
from integrations.webhooks.targets import target_check

logger = logging.getLogger(__name__)
QUEUE_EMPTY = "project.queue_empty"


# Subscriptions -------------------------------------------------------------------
def _events_clean(events) -> list[str]:
    if not isinstance(events, list) or not events:
        raise Invalid(f"a non-empty list of event names ({', '.join(EVENTS)})", field="events")
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise Invalid(f"unknown event {unknown[0]!r}; known: {', '.join(EVENTS)}", field="events")
    return sorted(set(events))


def _url_clean(url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise Invalid("required", field="url")
    url = url.strip()
    if len(url) > 2000:
        raise Invalid("at most 2000 characters", field="url")
    target_check(url, allow_private=settings.PALATE_WEBHOOK_ALLOW_PRIVATE)
    return url


def webhook_subscription_create(*, project: Project, url: str, events: list[str], description: str = "",
                                created_by=None) -> tuple[WebhookSubscription, str]:
    """The subscription and its signing secret (shown to the caller once)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            project=project, url=_url_clean(url), events=_events_clean(events),
            description=description[:200], secret=secret, created_by=created_by)
        audit_record(created_by, "webhook.create", subscription, events=subscription.events)
    return subscription, secret


def webhook_subscription_update(*, subscription: WebhookSubscription, actor=None, url: str | None = None,
                                events: list[str] | None = None, description: str | None = None,
                                is_active: bool | None = None) -> WebhookSubscription:
    changed = []
    if url is not None:
        subscription.url = _url_clean(url)
        changed.append("url")
    if events is not None:
        subscription.events = _events_clean(events)
        changed.append("events")
    if description is not None:
        subscription.description = description[:200]
        changed.append("description")
    if is_active is not None:
        subscription.is_active = bool(is_active)
        changed.append("is_active")
    with transaction.atomic():
        subscription.save(update_fields=[*changed, "updated_at"])
        audit_record(actor, "webhook.update", subscription, changed=changed)
    return subscription


def webhook_subscription_delete(*, subscription: WebhookSubscription, actor=None) -> None:
    with transaction.atomic():
        audit_record(actor, "webhook.delete", subscription)
        subscription.delete()


# Deliveries ----------------------------------------------------------------------
def _enqueue(delivery_id: int, countdown: float = 0) -> None:
    task_send("integrations.tasks.webhook_delivery_attempt_task", delivery_id, on_commit=True,
              countdown=max(0, countdown))


def _envelope(*, project: Project, name: str, event_id: str, data: dict, now: datetime) -> dict:
    return {"id": event_id, "event": name, "created_at": now.isoformat(),
            "project": {"id": project.pk, "slug": project.slug}, "data": data}


def _queue_empty_due(subscription: WebhookSubscription, now: datetime) -> bool:
    # Two labelers meeting the empty queue at once both emit; the conditional
    # update lets one delivery through per quiet period.
    quiet = timedelta(seconds=settings.PALATE_WEBHOOK_QUEUE_EMPTY_SECONDS)
    return bool(WebhookSubscription.objects.filter(pk=subscription.pk).filter(
        Q(queue_empty_sent_at__isnull=True) | Q(queue_empty_sent_at__lte=now - quiet)).update(
        queue_empty_sent_at=now))


def webhook_deliveries_create(*, project_id: int, name: str, event_id: str,
                              data: dict) -> list[WebhookDelivery]:
    """One pending delivery per active subscription of the project that wants
    ``name``, sent when the caller's transaction commits."""
    event_name_check(name)
    subscriptions = [s for s in WebhookSubscription.objects.select_related("project").filter(
        project_id=project_id, is_active=True) if name in s.events]
    if not subscriptions:
        return []
    now = timezone.now()
    created = []
    for subscription in subscriptions:
        if name == QUEUE_EMPTY and not _queue_empty_due(subscription, now):
            continue
        payload = _envelope(project=subscription.project, name=name, event_id=event_id, data=data, now=now)
        delivery = WebhookDelivery.objects.create(subscription=subscription, event=name, event_id=event_id,
                                                  payload=payload, next_attempt_at=now)
        _enqueue(delivery.pk)
        created.append(delivery)
    return created


def webhook_test_send(*, subscription: WebhookSubscription, actor=None) -> WebhookDelivery:
    """A ``webhook.test`` delivery to the subscription, whatever events it lists."""
    now = timezone.now()
    event_id = str(uuid.uuid4())
    data = {"message": "Test delivery from Palate.", "webhook_id": subscription.pk}
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            subscription=subscription, event=TEST_EVENT, event_id=event_id, next_attempt_at=now,
            payload=_envelope(project=subscription.project, name=TEST_EVENT, event_id=event_id,
                              data=data, now=now))
        audit_record(actor, "webhook.test", subscription, delivery_id=delivery.pk)
        _enqueue(delivery.pk)
    return delivery


def webhook_delivery_redeliver(*, delivery: WebhookDelivery, actor=None) -> WebhookDelivery:
    """Send a past delivery again, by hand: a new row with the same event id and
    body (receivers dedupe on the id), its own attempts and log."""
    now = timezone.now()
    with transaction.atomic():
        copy = WebhookDelivery.objects.create(
            subscription=delivery.subscription, event=delivery.event, event_id=delivery.event_id,
            payload=delivery.payload, next_attempt_at=now, redelivery_of=delivery)
        audit_record(actor, "webhook.redeliver", delivery.subscription, delivery_id=delivery.pk,
                     redelivery_id=copy.pk)
        _enqueue(copy.pk)
    return copy


def backoff_seconds(attempt: int) -> int:
    """Wait before attempt ``attempt + 1``: base × 2^(attempt − 1), capped."""
    base = settings.PALATE_WEBHOOK_BACKOFF_SECONDS
    return int(min(settings.PALATE_WEBHOOK_BACKOFF_MAX_SECONDS, base * 2 ** max(0, attempt - 1)))


def _body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Make the next attempt of a due delivery. None when there was nothing to
    claim (not due yet, finished, or another worker holds it)."""
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now).update(
        status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    mine = WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING, claimed_at=now)
    if not subscription.is_active and delivery.event != TEST_EVENT:
        mine.update(status=DeliveryStatus.FAILED, last_error="the subscription is disabled",
                    finished_at=timezone.now())
        return WebhookDelivery.objects.get(pk=delivery.pk)
    body = _body(delivery)
    timestamp = int(timezone.now().timestamp())
    signature = signature_compute(secret=subscription.secret, timestamp=timestamp, body=body)
    headers = {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: str(timestamp), EVENT_HEADER: delivery.event,
               DELIVERY_HEADER: str(delivery.event_id)}
    started = timezone.now()
    try:
        # Checked again at send time: the name may resolve elsewhere since it was saved.
        target = target_check(subscription.url, allow_private=settings.PALATE_WEBHOOK_ALLOW_PRIVATE)
    except Invalid as refused:
        status_code, error, excerpt, duration = None, f"target refused: {refused.message}", "", 0
    else:
        result = signed_post(target=target, body=body, headers=headers,
                             timeout=settings.PALATE_WEBHOOK_TIMEOUT_SECONDS)
        status_code, error, excerpt, duration = (result.status_code, result.error, result.excerpt,
                                                 result.duration_ms)
    ok = status_code is not None and 200 <= status_code < 300
    if not ok and not error:
        error = f"HTTP {status_code}"
    finished = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(delivery=delivery, number=delivery.attempts, started_at=started,
                                      duration_ms=duration, status_code=status_code, error=error[:2000],
                                      response_excerpt=excerpt[:500])
        if ok:
            mine.update(status=DeliveryStatus.SUCCEEDED, last_status_code=status_code, last_error="",
                        finished_at=finished)
        elif delivery.attempts >= settings.PALATE_WEBHOOK_MAX_ATTEMPTS:
            mine.update(status=DeliveryStatus.FAILED, last_status_code=status_code,
                        last_error=f"gave up after {delivery.attempts} attempts: {error}"[:2000],
                        finished_at=finished)
        else:
            wait = backoff_seconds(delivery.attempts)
            if mine.update(status=DeliveryStatus.PENDING, last_status_code=status_code,
                           last_error=error[:2000], next_attempt_at=finished + timedelta(seconds=wait)):
                _enqueue(delivery.pk, countdown=wait)
    if not ok:
        logger.info("webhook delivery %s attempt %s: %s", delivery.pk, delivery.attempts, error)
    return WebhookDelivery.objects.get(pk=delivery.pk)


def webhook_deliveries_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: re-send due pending deliveries (a lost or early message) and give
    back deliveries whose worker died mid-request (claimed long ago)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=max(60, 3 * settings.PALATE_WEBHOOK_TIMEOUT_SECONDS))
    released = WebhookDelivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stale).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, last_error="worker lost during the attempt")
    due = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
               .order_by("pk").values_list("pk", flat=True)[:1000])
    for pk in due:
        _enqueue(pk)
    return {"released": released, "sent": len(due)}
