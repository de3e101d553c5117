"""Project events (annotation.signals.project_event) become webhook deliveries,
in the emitting service's transaction."""

from django.dispatch import receiver

from annotation.signals import project_event
from integrations.webhooks.services import webhook_deliveries_create


@receiver(project_event, dispatch_uid="integrations-webhook-deliveries")
def project_event_deliveries(sender, *, project_id: int, name: str, event_id: str, data: dict, **kwargs):
    webhook_deliveries_create(project_id=project_id, name=name, event_id=event_id, data=data)
