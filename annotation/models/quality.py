from django.conf import settings
from django.db import models

from annotation.models.content import ComparisonItem
from annotation.models.projects import ConsensusMethod, Project

__all__ = ["Adjudication", "ConsensusMethod", "ItemConsensus", "ProjectQuality"]


class ItemConsensus(models.Model):
    """The stored consensus of one item's labels, rewritten by each quality recompute.

    Pairwise: ``label`` is the side (−1 A, 0 tie, 1 B) and ``strength`` the
    consensus on the −2..2 scale (majority: mean strength of the winning side;
    mean: the mean; Dawid–Skene: the posterior mean side). Ranking:
    ``ranking`` is the dense consensus ranking by (reliability-weighted) mean
    rank. ``agreement`` is the share of labels that agree with the consensus;
    ``confidence`` the task type's adjudication measure (pairwise: the vote
    share or the Dawid–Skene posterior of the label; ranking: Kendall's W of
    the labelers who count, see annotation.task_types); low confidence
    with enough labels sets ``needs_adjudication`` until an admin records an
    Adjudication.
    """

    item = models.OneToOneField(ComparisonItem, on_delete=models.CASCADE, related_name="consensus")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=16, choices=ConsensusMethod.choices)
    label = models.SmallIntegerField(null=True, blank=True)
    strength = models.FloatField(null=True, blank=True)
    ranking = models.JSONField(null=True, blank=True)
    agreement = models.FloatField()
    confidence = models.FloatField()
    n_labels = models.PositiveIntegerField()
    needs_adjudication = models.BooleanField(default=False)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["item_id"]
        indexes = [
            models.Index(fields=["project", "confidence"], name="consensus_queue_idx",
                         condition=models.Q(needs_adjudication=True)),
            models.Index(fields=["project", "item"], name="consensus_project_idx"),
        ]

    def __str__(self) -> str:
        return f"Consensus of item {self.item_id} ({self.method})"


class Adjudication(models.Model):
    """An admin's decision on an item; the latest one overrides the consensus.

    Rows are never edited: a new decision is a new row, so the history stays.
    """

    item = models.ForeignKey(ComparisonItem, on_delete=models.CASCADE, related_name="adjudications")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    strength = models.SmallIntegerField(null=True, blank=True)
    ranking = models.JSONField(null=True, blank=True)
    feedback = models.BooleanField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "item", "created_at"],
                                name="adjudication_item_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(strength__isnull=True)
                | models.Q(strength__gte=-2, strength__lte=2),
                name="adjudication_strength_range",
            ),
            models.CheckConstraint(
                condition=models.Q(strength__isnull=False) | models.Q(ranking__isnull=False)
                | models.Q(feedback__isnull=False),
                name="adjudication_has_decision",
            ),
        ]

    def __str__(self) -> str:
        return f"Adjudication {self.pk} of item {self.item_id}"


class ProjectQuality(models.Model):
    """A project's last computed quality figures, and the recompute debounce.

    ``report`` holds the dashboard's figures (agreement with intervals,
    labeler table, kappa matrix, health, trend, leaderboard) as computed at
    ``computed_at``. ``recompute_due_at`` is when the scheduled recompute
    runs: while it lies in the future, further submissions schedule nothing
    (see annotation.services.consensus.project_quality_schedule).
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="quality")
    method = models.CharField(max_length=16, choices=ConsensusMethod.choices, blank=True)
    report = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    recompute_due_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0, help_text="Recomputes so far.")

    class Meta:
        ordering = ["project_id"]

    def __str__(self) -> str:
        return f"Quality of {self.project}"
