"""Rows of policy evaluations (imported by training.models, app label "training")."""

from django.conf import settings
from django.db import models

from annotation.models import ComparisonItem, DatasetSnapshot, Project
from generation.models import ModelSpec


class PolicyEvaluation(models.Model):
    """A policy against its reference on a snapshot's held-out prompts, judged by
    a reward model; optionally also by people (blind items in the queue)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="policy_evaluations")
    policy = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="+")
    reference = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="+")
    reward_model = models.ForeignKey(ModelSpec, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="The judge of the win rate.")
    snapshot = models.ForeignKey(DatasetSnapshot, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    run = models.ForeignKey("training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="policy_evaluations", help_text="The run that made the policy.")
    config = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=dict, blank=True,
                               help_text="Win rate and interval, KL and interval, lengths, timings.")
    samples = models.JSONField(default=list, blank=True,
                               help_text="Per prompt: its id, both models' samples and their scores.")
    human_results = models.JSONField(default=dict, blank=True,
                                     help_text="The human win rate from the blind items, when asked.")
    human_requested_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"evaluation {self.pk}: {self.policy_id} vs {self.reference_id}"


class HumanEvalItem(models.Model):
    """Which canonical position of a blind comparison item holds the policy's
    response. Kept here, not on the item or response a labeler could see."""

    evaluation = models.ForeignKey(PolicyEvaluation, on_delete=models.CASCADE, related_name="human_items")
    item = models.OneToOneField(ComparisonItem, on_delete=models.CASCADE, related_name="+")
    policy_position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"evaluation {self.evaluation_id} item {self.item_id}"
