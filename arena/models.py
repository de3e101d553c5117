"""Arena: labelers chat with two anonymous models from a project's pool and vote.

A voted battle becomes an ordinary pairwise comparison item with the voter's
annotation (arena.services.votes), so agreement, consensus, snapshots, exports
and the Bradley–Terry leaderboard read it like any other label. These tables
hold what only the arena needs: its settings, the pool, the live conversation
while it streams, and the stream slots that bound concurrent generation.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from annotation.models import Annotation, ComparisonItem, Project
from generation.models import ModelSpec


def default_sampling() -> dict:
    return {"temperature": 0.7, "top_p": 1.0}


class Arena(models.Model):
    """Arena mode of a pairwise project: its limits and sampling."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="arena")
    is_enabled = models.BooleanField(default=True)
    max_turns = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="User turns per battle.")
    max_input_chars = models.PositiveIntegerField(
        default=2000, validators=[MinValueValidator(1), MaxValueValidator(20_000)],
        help_text="Longest prompt a labeler may send in one turn.")
    max_output_tokens = models.PositiveIntegerField(
        default=256, validators=[MinValueValidator(1), MaxValueValidator(4096)],
        help_text="Tokens each model may write per turn.")
    sampling = models.JSONField(default=default_sampling, blank=True,
                                help_text="temperature and top_p for both models.")
    suggested_prompts = models.JSONField(default=list, blank=True)
    battles_per_hour = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)], help_text="Per labeler.")
    tokens_per_hour = models.PositiveIntegerField(
        default=50_000, validators=[MinValueValidator(1)],
        help_text="Per labeler: tokens both models wrote for them in the last hour.")
    join_promoted = models.BooleanField(
        default=True, help_text="A policy the training loop promotes joins the pool.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Arena of {self.project}"


class PoolModel(models.Model):
    """A model in an arena's pool; pairs are drawn in proportion to the
    product of their weights (arena.sampling)."""

    arena = models.ForeignKey(Arena, on_delete=models.CASCADE, related_name="pool")
    spec = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="arena_entries")
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0.0)])
    is_active = models.BooleanField(default=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["arena_id", "spec__name"]
        constraints = [
            models.UniqueConstraint(fields=["arena", "spec"], name="arena_pool_unique_model"),
            models.CheckConstraint(condition=models.Q(weight__gte=0), name="arena_pool_weight_min_0"),
        ]

    def __str__(self) -> str:
        return f"{self.spec.name} in {self.arena}"


class BattleStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    VOTED = "voted", "Voted"
    FAILED = "failed", "Failed (not counted)"
    ABANDONED = "abandoned", "Abandoned"


class Battle(models.Model):
    """One anonymous conversation of a labeler with two models.

    ``model_a``/``model_b`` are never sent to the browser before the vote.
    A failed battle (a model errored or timed out) is never counted.
    """

    arena = models.ForeignKey(Arena, on_delete=models.CASCADE, related_name="battles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="arena_battles")
    model_a = models.ForeignKey(ModelSpec, on_delete=models.PROTECT, related_name="+")
    model_b = models.ForeignKey(ModelSpec, on_delete=models.PROTECT, related_name="+")
    sampling = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=BattleStatus.choices,
                              default=BattleStatus.ACTIVE)
    error = models.TextField(blank=True)
    tokens = models.PositiveIntegerField(default=0)
    item = models.OneToOneField(ComparisonItem, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="arena_battle")
    annotation = models.OneToOneField(Annotation, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="battle_user_recent_idx"),
            models.Index(fields=["arena", "status"], name="battle_arena_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(model_a=models.F("model_b")),
                                   name="battle_two_models"),
        ]

    def __str__(self) -> str:
        return f"Battle {self.pk} ({self.status})"


class TurnStatus(models.TextChoices):
    STREAMING = "streaming", "Streaming"
    DONE = "done", "Done"
    STOPPED = "stopped", "Stopped by the labeler"
    FAILED = "failed", "Failed"


class Turn(models.Model):
    """One user message and both models' answers to it (each model sees its
    own earlier answers)."""

    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    user_text = models.TextField()
    text_a = models.TextField(blank=True)
    text_b = models.TextField(blank=True)
    tokens_a = models.PositiveIntegerField(default=0)
    tokens_b = models.PositiveIntegerField(default=0)
    finish_a = models.CharField(max_length=16, blank=True)
    finish_b = models.CharField(max_length=16, blank=True)
    ttft_a_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_b_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=TurnStatus.choices,
                              default=TurnStatus.STREAMING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["battle_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["battle", "index"], name="turn_unique_index"),
        ]

    def __str__(self) -> str:
        return f"Turn {self.index} of battle {self.battle_id}"


class StreamSlot(models.Model):
    """A held stream on a generation server. The unique (server, slot) pair is
    what caps concurrent streams per server across every web process: taking a
    slot is an insert that only one process can win (arena.services.limits)."""

    server = models.CharField(max_length=300)
    slot = models.PositiveSmallIntegerField()
    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["server", "slot"], name="streamslot_unique_slot"),
        ]

    def __str__(self) -> str:
        return f"{self.server} #{self.slot}"
