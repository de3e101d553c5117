from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "annotation"

    def ready(self):
        from annotation import checks  # noqa: F401  registers the deployment checks
        from annotation.api import schema  # noqa: F401  registers the OpenAPI auth scheme
