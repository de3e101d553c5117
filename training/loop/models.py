"""The closed loop's rows (imported by training.models, app label "training")."""

from django.db import models

from annotation.models import DatasetSnapshot, Project
from core.jobs.models import DurableJob, JobStatus
from generation.models import GenerationJob, ModelSpec
from training.policy_eval.models import PolicyEvaluation

PROMOTION_JUDGE_CHOICES = [
    ("independent", "The first independent judge with a verdict (previous round's reward model, "
                    "then the AI judge)"),
    ("previous_reward", "The previous round's reward model"),
    ("ai_judge", "The AI judge"),
]


class LoopSetting(models.Model):
    """One project's loop: on schedule, snapshot → reward model → DPO → evaluate
    → if the policy wins, generate the next candidates from it.

    Beat runs it through its own django-celery-beat PeriodicTask (every
    ``check_every_minutes``), kept in step with this row by the loop service.
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="loop_setting")
    enabled = models.BooleanField(default=False)
    check_every_minutes = models.PositiveIntegerField(default=60,
                                                      help_text="How often beat checks the condition.")
    min_interval_hours = models.FloatField(default=24.0, help_text="At most one round per this many hours.")
    min_new_pairs = models.PositiveIntegerField(
        default=200, help_text="Start a round when at least this many consensus pairs are new.")
    prompts_per_round = models.PositiveIntegerField(
        default=50, help_text="Fresh prompts (without items yet) the winning policy generates for.")
    base_policy = models.ForeignKey(ModelSpec, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", help_text="Empty: the default policy.")
    current_policy = models.ForeignKey(
        ModelSpec, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False,
        help_text="The last policy that won its round; the next round starts from it.")
    reward_base_model = models.ForeignKey(ModelSpec, null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+", help_text="Empty: the default reward backbone.")
    reward_hyperparameters = models.JSONField(default=dict, blank=True)
    dpo_hyperparameters = models.JSONField(default=dict, blank=True)
    eval_config = models.JSONField(default=dict, blank=True,
                                   help_text="training.policy_eval.evaluate.EvalConfig fields.")
    win_threshold = models.FloatField(
        default=0.5, help_text="The policy wins when its win rate's interval lies above this.")
    promotion_judge = models.CharField(
        max_length=24, choices=PROMOTION_JUDGE_CHOICES, default="independent",
        help_text="Whose win rate decides a promotion. Never the round's own reward model: it learned "
                  "the labels the policy was trained on.")
    ai_judge = models.ForeignKey(ModelSpec, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+",
                                 help_text="Empty: the registry's judge model, else the default policy.")
    ai_judge_enabled = models.BooleanField(
        default=True, help_text="Ask the AI judge about every held-out comparison (both orders).")
    min_eval_prompts = models.PositiveIntegerField(
        default=50, help_text="A round evaluated on fewer held-out prompts does not promote …")
    allow_few_eval_prompts = models.BooleanField(
        default=False, help_text="… unless a project admin sets this override.")
    generation_backend = models.CharField(max_length=16, blank=True,
                                          help_text="Empty: the new policy's own backend.")
    generation_sampling = models.JSONField(default=dict, blank=True)
    snapshot_filters = models.JSONField(default=dict, blank=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+", editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id"]

    def __str__(self) -> str:
        return f"loop of {self.project}"


# The shared enum of every durable job; a round is created running (it never waits queued).
RoundStatus = JobStatus


class RoundStage(models.TextChoices):
    SNAPSHOT = "snapshot", "Build the snapshot"
    REWARD = "reward", "Train the reward model"
    DPO = "dpo", "Train the policy (DPO)"
    EVALUATE = "evaluate", "Evaluate against the reference"
    DECIDE = "decide", "Decide"
    GENERATE = "generate", "Generate the next candidates"
    DONE = "done", "Done"


class Decision(models.TextChoices):
    ACCEPTED = "accepted", "Accepted: the policy won"
    REJECTED = "rejected", "Rejected: no significant win"


class LoopRound(DurableJob):
    """One turn of the loop. The row owns its progress: each stage's result is
    written before the next begins, so a worker that dies mid-round leaves a
    row that another worker continues from (see training.loop.services).

    ``attempt`` is a fencing token like a training run's: every write of the
    worker advancing the round is conditional on ``status=running`` and its
    own attempt; ``lease_until`` says when another worker may take over.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="loop_rounds")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.RUNNING)
    stage = models.CharField(max_length=16, choices=RoundStage.choices, default=RoundStage.SNAPSHOT)
    reference_policy = models.ForeignKey(ModelSpec, on_delete=models.RESTRICT, related_name="+",
                                         help_text="The policy the round starts from and is judged against.")
    snapshot = models.ForeignKey(DatasetSnapshot, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    reward_run = models.ForeignKey("training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    dpo_run = models.ForeignKey("training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    evaluation = models.ForeignKey(PolicyEvaluation, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decision_reason = models.CharField(max_length=300, blank=True)
    decision_detail = models.JSONField(
        default=dict, blank=True,
        help_text="The rule as applied: judge, its interval and prompt count, threshold, minimum prompts.")
    generation_job = models.ForeignKey(GenerationJob, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    note = models.CharField(max_length=300, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="loopround_unique_number"),
            # One round at a time per project: two would train on the same labels.
            models.UniqueConstraint(fields=["project"], condition=models.Q(status="running"),
                                    name="loopround_one_running_per_project"),
        ]

    def __str__(self) -> str:
        return f"round {self.number} of {self.project} ({self.status}, {self.stage})"
