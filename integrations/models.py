"""Rows of the integrations app: webhook subscriptions and their delivery log."""

from django.conf import settings
from django.db import models

from annotation.models import Project


class WebhookSubscription(models.Model):
    """A project's HTTP endpoint and the events it wants.

    ``secret`` is kept in clear because every delivery is signed with it
    (HMAC-SHA256); the API shows it once, when the subscription is made.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="Names from annotation.events.EVENTS.")
    secret = models.CharField(max_length=128)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # project.queue_empty is announced on every empty claim; a subscription is
    # sent at most one per PALATE_WEBHOOK_QUEUE_EMPTY_SECONDS (a compare-and-set on this).
    queue_empty_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"webhook {self.pk} of project {self.project_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its (next) attempt at next_attempt_at
    SENDING = "sending"  # claimed by a worker
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # attempts exhausted, or the target was refused


class WebhookDelivery(models.Model):
    """One event for one subscription. The row, not the broker, owns the
    status: a worker claims it with a compare-and-set, and a beat sweep re-sends
    pending rows whose message was lost."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE,
                                     related_name="deliveries")
    event = models.CharField(max_length=64)
    event_id = models.UUIDField(help_text="Same for a redelivery of the same event: receivers dedupe on it.")
    payload = models.JSONField(help_text="The JSON body sent (id, event, created_at, project, data).")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    redelivery_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="redeliveries")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event} delivery {self.pk} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: the log a project admin reads."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The receiver's answer, cut short: untrusted text, only ever returned as JSON.
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_unique")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


class WorkerHeartbeat(models.Model):
    """A Celery worker's sign of life, written every PALATE_WORKER_HEARTBEAT_SECONDS
    by a thread of its main process and removed on a clean shutdown: a row whose
    ``beat_at`` grows old is a worker that died (the stale-worker alert)."""

    name = models.CharField(max_length=200, unique=True, help_text="Celery node name, e.g. celery@host.")
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    queues = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TrackerBackend(models.TextChoices):
    MLFLOW = "mlflow", "MLflow"
    WANDB = "wandb", "Weights & Biases"


class TrackedRun(models.Model):
    """Where a training run or a loop round is tracked in an experiment tracker,
    and the tracker's last error: the training page links the run from here and
    shows the error (a tracker failing never fails the run itself)."""

    training_run = models.ForeignKey("training.TrainingRun", null=True, blank=True,
                                     on_delete=models.CASCADE, related_name="tracked_runs")
    loop_round = models.ForeignKey("training.LoopRound", null=True, blank=True,
                                   on_delete=models.CASCADE, related_name="tracked_runs")
    backend = models.CharField(max_length=16, choices=TrackerBackend.choices)
    external_id = models.CharField(max_length=200, blank=True, help_text="The tracker's run id.")
    location = models.CharField(max_length=2000, blank=True,
                                help_text="A run URL, or the run's folder in a local store.")
    finished = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="The last tracking failure (the run went on).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(training_run__isnull=False, loop_round__isnull=True)
                           | models.Q(training_run__isnull=True, loop_round__isnull=False)),
                name="trackedrun_one_target"),
            models.UniqueConstraint(fields=["training_run", "backend"], name="trackedrun_unique_run",
                                    condition=models.Q(training_run__isnull=False)),
            models.UniqueConstraint(fields=["loop_round", "backend"], name="trackedrun_unique_round",
                                    condition=models.Q(loop_round__isnull=False)),
        ]

    def __str__(self) -> str:
        target = f"run {self.training_run_id}" if self.training_run_id else f"round {self.loop_round_id}"
        return f"{self.backend} tracking of {target}"


class OidcIdentity(models.Model):
    """The account an OpenID Connect subject signs in as. Matched on (issuer,
    subject), never on the e-mail address: a provider's e-mail claim cannot take
    over an existing local account."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="oidc_identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True, help_text="The group claim at the last sign-in.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidcidentity_unique_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
