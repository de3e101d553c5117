from celery import shared_task

from integrations.webhooks.services import webhook_deliveries_sweep, webhook_delivery_attempt


@shared_task(name="integrations.tasks.webhook_delivery_attempt_task")
def webhook_delivery_attempt_task(delivery_id: int) -> None:
    webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="integrations.tasks.webhook_deliveries_sweep_task")
def webhook_deliveries_sweep_task() -> dict:
    """Periodic (beat): re-send due deliveries, free those of dead workers."""
    return webhook_deliveries_sweep()
