from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def default_criteria() -> list[dict]:
    return [
        {"name": "helpfulness", "label": "Helpful", "min": 1, "max": 7},
        {"name": "harmlessness", "label": "Harmless", "min": 1, "max": 7},
        {"name": "honesty", "label": "Honest", "min": 1, "max": 7},
    ]


class TaskType(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise comparison"
    RANKING = "ranking", "K-way ranking"
    FEEDBACK = "feedback", "Single-response feedback"


class ConsensusMethod(models.TextChoices):
    """Every consensus method; which ones a task type offers, under which name,
    is stated in annotation.task_types."""

    MAJORITY = "majority", "Majority vote"
    MEAN = "mean", "Mean (strength or rank)"
    DAWID_SKENE = "dawid_skene", "Dawid–Skene posterior"
    WEIGHTED_RANK = "weighted_rank", "Reliability-weighted mean rank"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to labelers.")
    task_type = models.CharField(max_length=16, choices=TaskType.choices, default=TaskType.PAIRWISE)
    num_responses = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(16)],
        help_text="Responses per item: 2 for pairwise, K for ranking, 1 for feedback.",
    )
    overlap = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="How many labelers annotate each (non-gold) item.",
    )
    lease_seconds = models.PositiveIntegerField(
        default=900, validators=[MinValueValidator(30), MaxValueValidator(24 * 3600)]
    )
    criteria = models.JSONField(default=default_criteria, blank=True)
    allow_ties = models.BooleanField(default=True)
    gold_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of served items that are gold questions.",
    )
    disagreement_first = models.BooleanField(
        default=False,
        help_text="Raise the queue priority of items whose labels disagree, so they get "
                  "their remaining labels first.",
    )
    test_fraction = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of prompts in the test split (fixed by a hash of the prompt).",
    )
    consensus_method = models.CharField(
        max_length=16, choices=ConsensusMethod.choices, blank=True, default="",
        help_text="The consensus that the dashboard, the stored consensus and new snapshots use; "
                  "blank: the task type's default.",
    )
    adjudicate_below = models.FloatField(
        null=True, blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Items whose agreement measure (the task type's) is below this go to "
                  "adjudication; blank: the task type's default.",
    )
    archived_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Set while the project is archived: it hands out no items and is listed apart.",
    )
    daily_label_cap = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="At most this many labels per labeler per day (server's local day); blank: no cap.",
    )
    total_label_cap = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="At most this many labels per labeler in all; blank: no cap.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            # Every comparing task type shows two or more responses; feedback shows one.
            models.CheckConstraint(
                condition=models.Q(num_responses__gte=2)
                | models.Q(task_type="feedback", num_responses=1),
                name="project_num_responses_fit_task",
            ),
            models.CheckConstraint(
                condition=~models.Q(task_type="pairwise") | models.Q(num_responses=2),
                name="project_pairwise_has_two_responses",
            ),
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="project_overlap_min_1"),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    LABELER = "labeler", "Labeler"
    ENGINEER = "engineer", "ML engineer"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"
