from django.conf import settings
from django.db import models

from annotation.models.content import ComparisonItem
from annotation.models.projects import Project


class AssignmentStatus(models.TextChoices):
    LEASED = "leased", "Leased"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"


class Assignment(models.Model):
    """A lease of one item to one labeler; its row outlives the lease as history.

    One row per (item, labeler) ever, which is how "no labeler sees an item
    twice" is enforced by the database.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(ComparisonItem, on_delete=models.CASCADE, related_name="assignments")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(
        max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.LEASED
    )
    display_order = models.JSONField(
        help_text="Canonical positions in the order shown: [1, 0] means B was shown first."
    )
    is_gold = models.BooleanField(default=False)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["item", "labeler"], name="assignment_unique_labeler"),
        ]
        indexes = [
            models.Index(fields=["labeler", "project", "status"], name="assignment_labeler_idx"),
            models.Index(
                fields=["expires_at"],
                name="assignment_expiry_idx",
                condition=models.Q(status="leased"),
            ),
        ]

    def __str__(self) -> str:
        return f"Assignment {self.pk} ({self.status})"


class AnnotationSource(models.TextChoices):
    HUMAN = "human", "Human"
    MODEL = "model", "Model"
    IMPORTED = "imported", "Imported"


class Annotation(models.Model):
    """One labeler's judgement of one item.

    Pairwise: ``strength`` in −2..2 relative to the canonical order; negative
    prefers A (−2: A ≫ B), 0 is a tie, positive prefers B (+2: B ≫ A); null only
    when ``both_bad`` is set without a preference.
    Ranking: ``ranking[i]`` is the rank of canonical response i (1 is best,
    equal ranks are ties, dense: 1, 2, 2, 3).
    Feedback: ``feedback`` is the thumbs up (true) or down (false) on the one response.
    ``ratings`` maps criterion name to a list of per-response scores in
    canonical order (null where not rated).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(ComparisonItem, on_delete=models.CASCADE, related_name="annotations")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations"
    )
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotation"
    )
    source = models.CharField(
        max_length=16, choices=AnnotationSource.choices, default=AnnotationSource.HUMAN
    )
    strength = models.SmallIntegerField(null=True, blank=True)
    both_bad = models.BooleanField(default=False)
    ranking = models.JSONField(null=True, blank=True)
    feedback = models.BooleanField(null=True, blank=True,
                                   help_text="Single-response feedback: thumbs up (true) or down (false).")
    ratings = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)
    flagged_unsafe = models.BooleanField(default=False)
    display_order = models.JSONField()
    time_on_task_ms = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["item", "labeler"], name="annotation_unique_labeler"),
            models.UniqueConstraint(
                fields=["labeler", "idempotency_key"], name="annotation_unique_idempotency_key"
            ),
            models.CheckConstraint(
                condition=models.Q(strength__isnull=True)
                | models.Q(strength__gte=-2, strength__lte=2),
                name="annotation_strength_range",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "created_at"], name="annotation_project_idx"),
            models.Index(fields=["labeler", "project"], name="annotation_labeler_idx"),
        ]

    def __str__(self) -> str:
        return f"Annotation {self.pk}"
