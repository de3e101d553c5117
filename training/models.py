from django.db import models

from annotation.models import DatasetSnapshot, Project
from core.jobs.models import ACTIVE_STATUSES, DurableJob, JobStatus  # noqa: F401  (ACTIVE_STATUSES: re-exported)
from generation.models import ModelSpec


class RunKind(models.TextChoices):
    REWARD = "reward", "Reward model (Bradley–Terry)"
    DPO = "dpo", "DPO policy"
    SFT = "sft", "Supervised fine-tuning"


# The shared enum of every durable job (the name stays for this app's readers).
RunStatus = JobStatus


class TrainingRun(DurableJob):
    """A durable training job. The row, not the broker, owns the status.

    A worker claims a queued run with a compare-and-set on ``status`` (which
    bumps ``attempt``); while it trains, every write it makes (heartbeat,
    progress, the final status) is conditional on ``status=running`` and its
    own ``attempt``, so a run that was cancelled, or requeued by the watchdog
    and claimed by another worker, stops the old worker at its next write.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.REWARD)
    # RESTRICT, not PROTECT: deleting the project deletes its runs and snapshots together.
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.RESTRICT, related_name="training_runs")
    base_model = models.ForeignKey(ModelSpec, on_delete=models.RESTRICT, related_name="training_runs",
                                   help_text="The backbone the run starts from.")
    hyperparameters = models.JSONField(default=dict, blank=True,
                                       help_text="The full, validated configuration of the trainer.")
    resources = models.JSONField(
        default=dict, blank=True,
        help_text="Processes per node, nodes and strategy (training.distributed.resources); "
                  "empty: one process.")
    # progress
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    eta_at = models.DateTimeField(null=True, blank=True)
    # where and how it ran
    device = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When the current attempt began.")
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per phase.")
    results = models.JSONField(default=dict, blank=True, help_text="Final evaluation on the test split.")
    artifacts_dir = models.CharField(max_length=500, blank=True)
    # what it produced
    output_model = models.OneToOneField(ModelSpec, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="produced_by_run")
    is_active = models.BooleanField(default=False,
                                    help_text="The project's reward model in use (one per project).")
    schedule = models.ForeignKey("TrainingSchedule", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="runs")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="trainingrun_project_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="trainingrun_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind"], condition=models.Q(is_active=True),
                                    name="trainingrun_one_active_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"


class TrainingMetric(models.Model):
    """One logged point of a run's time series: ``values`` maps metric → number.

    One row per logging step (not per metric), so a curve is one indexed range
    read; a resumed run first deletes the points past its checkpoint.
    """

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    split = models.CharField(max_length=8, default="train")  # train | eval
    step = models.PositiveIntegerField()
    values = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "split", "step"]
        constraints = [
            models.UniqueConstraint(fields=["run", "split", "step"], name="trainingmetric_unique_step"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.split} step {self.step}"


class TrainingSchedule(models.Model):
    """"Train a reward model when at least N new consensus pairs exist since the
    last run, at most every T hours" for one project.

    Beat runs it through a django-celery-beat PeriodicTask (every
    ``check_every_minutes``), kept in step with this row by the admin and the
    schedule service.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_schedules")
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.REWARD)
    enabled = models.BooleanField(default=True)
    min_new_pairs = models.PositiveIntegerField(
        default=200, help_text="Train when at least this many consensus pairs are new since the last run.")
    min_interval_hours = models.FloatField(default=24.0, help_text="At most one run per this many hours.")
    check_every_minutes = models.PositiveIntegerField(default=30,
                                                      help_text="How often beat checks the condition.")
    base_model = models.ForeignKey(ModelSpec, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Empty: the default reward backbone.")
    hyperparameters = models.JSONField(default=dict, blank=True)
    filters = models.JSONField(default=dict, blank=True, help_text="Snapshot filters.")
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+", editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_triggered_at = models.DateTimeField(null=True, blank=True)
    last_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind"], name="trainingschedule_unique_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} schedule for {self.project}"


# The loop's and the policy evaluations' rows live beside their code;
# importing them here registers them with the app.
from training.loop.models import LoopRound, LoopSetting  # noqa: E402,F401
from training.policy_eval.models import HumanEvalItem, PolicyEvaluation  # noqa: E402,F401
