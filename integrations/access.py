"""Permission-checking lookups for the integrations' rows, on top of
annotation.access: the project is resolved (and the role checked) there, and
a row of another project is the same NotFound as a missing one."""

from annotation.errors import NotFound
from annotation.models import Project
from integrations.models import WebhookDelivery, WebhookSubscription


def _pk(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound(f"{what} not found.") from None


def webhook_for_project(*, project: Project, webhook_id) -> WebhookSubscription:
    subscription = (WebhookSubscription.objects.select_related("project")
                    .filter(pk=_pk(webhook_id, "Webhook"), project=project).first())
    if subscription is None:
        raise NotFound("Webhook not found.")
    return subscription


def delivery_for_webhook(*, subscription: WebhookSubscription, delivery_id) -> WebhookDelivery:
    delivery = (WebhookDelivery.objects.select_related("subscription__project")
                .filter(pk=_pk(delivery_id, "Delivery"), subscription=subscription).first())
    if delivery is None:
        raise NotFound("Delivery not found.")
    return delivery
