from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "annotation"

    def ready(self):
        from annotation import checks  # noqa: F401  registers the deployment checks
        from annotation.api import schema  # noqa: F401  registers the OpenAPI auth scheme
        from core.jobs.registry import JobKind, job_kind_register

        job_kind_register(JobKind(name="exports", model="annotation.DatasetExport",
                                  task="annotation.tasks.dataset_export_run_task"))
        job_kind_register(JobKind(name="uploads", model="annotation.UploadJob",
                                  task="annotation.tasks.upload_job_run_task"))
        # Not a DurableJob: a snapshot is filled in one transaction under its row lock,
        # so a redelivered fill of one that is still "building" is all it needs.
        job_kind_register(JobKind(name="snapshots", model="annotation.DatasetSnapshot",
                                  task="annotation.tasks.dataset_snapshot_fill_task",
                                  pending_status="building"))
