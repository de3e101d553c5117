from celery import shared_task


@shared_task(name="integrations.tasks.webhook_delivery_attempt_task")
def webhook_delivery_attempt_task(delivery_id: int) -> None:
    from integrations.webhooks.services import webhook_delivery_attempt

    webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="integrations.tasks.webhook_deliveries_sweep_task")
def webhook_deliveries_sweep_task() -> dict:
    """Periodic (beat): re-send due deliveries, free those of dead workers."""
    from integrations.webhooks.services import webhook_deliveries_sweep

    return webhook_deliveries_sweep()
