from django.conf import settings
from django.db import models

from annotation.models.projects import Project
from core.jobs.models import DurableJob, JobStatus


class SnapshotStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DatasetSnapshot(models.Model):
    """An immutable, versioned preference dataset built from a project's labels.

    Rows are copied (texts included) into SnapshotPair so later edits of
    prompts or responses never change a built snapshot; ``content_hash`` is a
    SHA-256 over the canonical serialization of its pairs and filters.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    version = models.PositiveIntegerField()
    filters = models.JSONField(default=dict)
    code_version = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=SnapshotStatus.choices,
                              default=SnapshotStatus.BUILDING)
    error = models.TextField(blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Pairs per split.")
    agreement = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="snapshot_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug} v{self.version}"


class SnapshotPair(models.Model):
    """One preference pair: ``chosen`` preferred over ``rejected`` by consensus.

    ``margin`` is the consensus strength (0 for a tie kept as a tie), ``weight``
    down-weights prompts with many pairs (a ranking of K gives C(K, 2) pairs).
    """

    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="pairs")
    item_id = models.BigIntegerField()
    prompt_id = models.BigIntegerField()
    prompt_messages = models.JSONField()
    chosen_response_id = models.BigIntegerField()
    rejected_response_id = models.BigIntegerField()
    chosen = models.TextField()
    rejected = models.TextField()
    # A multi-turn completion (an arena battle continued past its first prompt):
    # the side's messages after the prompt (assistant, user, assistant, …), which
    # conversational exports write as the completion; null: one assistant message.
    chosen_messages = models.JSONField(null=True, blank=True)
    rejected_messages = models.JSONField(null=True, blank=True)
    chosen_model = models.CharField(max_length=200, blank=True)
    rejected_model = models.CharField(max_length=200, blank=True)
    margin = models.FloatField()
    is_tie = models.BooleanField(default=False)
    weight = models.FloatField(default=1.0)
    agreement = models.FloatField(null=True, blank=True)
    num_labels = models.PositiveIntegerField()
    split = models.CharField(max_length=8)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["snapshot", "split", "id"], name="snapshotpair_split_idx")]

    def __str__(self) -> str:
        return f"Pair {self.pk} of snapshot {self.snapshot_id}"


class SnapshotCompletion(models.Model):
    """One unpaired example of a feedback snapshot: a prompt, one completion and
    its consensus thumbs up (``label`` true) or down, as KTO trains on it.

    ``agreement`` is the share of the item's labels on the consensus side,
    ``score`` the share of thumbs up.
    """

    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="completions")
    item_id = models.BigIntegerField()
    prompt_id = models.BigIntegerField()
    prompt_messages = models.JSONField()
    response_id = models.BigIntegerField()
    completion = models.TextField()
    model_name = models.CharField(max_length=200, blank=True)
    label = models.BooleanField()
    score = models.FloatField()
    weight = models.FloatField(default=1.0)
    agreement = models.FloatField(null=True, blank=True)
    num_labels = models.PositiveIntegerField()
    split = models.CharField(max_length=8)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["snapshot", "split", "id"], name="snapshotcompletion_split_idx")]

    def __str__(self) -> str:
        return f"Completion {self.pk} of snapshot {self.snapshot_id}"


# The shared enum of every durable job (the name stays for this app's readers).
ExportStatus = JobStatus


class DatasetExport(DurableJob):
    """A snapshot written to a downloadable archive by a Celery task (a durable
    job: claimed, fenced by its attempt, heartbeating while it writes)."""

    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16)
    style = models.CharField(max_length=16, default="conversational")
    meta = models.BooleanField(default=False)
    progress_rows = models.PositiveBigIntegerField(default=0)
    total_rows = models.PositiveBigIntegerField(default=0)
    archive = models.CharField(max_length=500, blank=True, help_text="Path under EXPORTS_DIR.")
    size_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format}, {self.status})"
