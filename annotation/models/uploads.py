from django.db import models

from annotation.models.projects import Project
from core.jobs.models import DurableJob


class UploadJob(DurableJob):
    """A large upload imported by a Celery task (a durable job: claimed, fenced
    by its attempt, heartbeating while it imports).

    The web process stores the file under ``PALATE_UPLOADS_DIR`` and answers at
    once; the worker imports it all or nothing (one transaction) and removes
    it. ``progress_rows`` of ``total_rows`` are written as the import goes.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="upload_jobs")
    kind = models.CharField(max_length=16)
    format = models.CharField(max_length=16, default="auto")
    relabel = models.BooleanField(default=False)
    allow_gold = models.BooleanField(default=False, help_text="The uploader was a project admin.")
    dry_run = models.BooleanField(default=False, help_text="Check and count, write nothing.")
    file = models.CharField(max_length=500, help_text="Path under PALATE_UPLOADS_DIR; removed when done.")
    file_name = models.CharField(max_length=255, blank=True, help_text="The name it was uploaded under.")
    size_bytes = models.PositiveBigIntegerField(default=0)
    total_rows = models.PositiveIntegerField(default=0)
    progress_rows = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True, help_text="The import's counts (and preview).")
    error_field = models.CharField(max_length=200, blank=True)
    error_line = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="uploadjob_status_idx")]

    def __str__(self) -> str:
        return f"Upload {self.pk} ({self.kind}, {self.status})"
