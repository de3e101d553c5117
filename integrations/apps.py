from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Tools teams already run: signed webhooks, Prometheus metrics, experiment
    tracking (MLflow, W&B), OpenID Connect sign-in, and migration in and out of
    Label Studio and Argilla."""

    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.metrics import worker  # noqa: F401 - Celery signals: task metrics, heartbeats
        from integrations.oidc import checks  # noqa: F401 - the role map is checked at start
        from integrations.tracking import receivers as tracking  # noqa: F401 - runs and rounds tracked
        from integrations.webhooks import receivers  # noqa: F401 - project events become deliveries
