from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Audit log"

    def ready(self):
        from audit import receivers  # noqa: F401 - connects the Django admin hook
