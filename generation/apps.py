from django.apps import AppConfig


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self):
        from core.jobs.registry import JobKind, job_kind_register

        job_kind_register(JobKind(name="generation_jobs", model="generation.GenerationJob",
                                  task="generation.tasks.generation_job_run_task", queue="generation"))

        from annotation.signals import demo_seeded
        from generation.demo import on_demo_seeded

        demo_seeded.connect(on_demo_seeded, dispatch_uid="generation-demo-job")
