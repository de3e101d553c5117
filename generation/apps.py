from django.apps import AppConfig


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self):
        from annotation.signals import demo_seeded
        from generation.demo import on_demo_seeded

        demo_seeded.connect(on_demo_seeded, dispatch_uid="generation-demo-job")
