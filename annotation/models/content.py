from django.db import models

from annotation.models.projects import Project


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    TEST = "test", "Test"


class Prompt(models.Model):
    """A single text or a multi-turn conversation (list of {role, content})."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200, null=True, blank=True)
    messages = models.JSONField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical messages.")
    split = models.CharField(max_length=8, choices=Split.choices)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="prompt_unique_external_id",
            ),
            models.UniqueConstraint(fields=["project", "content_hash"], name="prompt_unique_content"),
        ]

    def __str__(self) -> str:
        return f"Prompt {self.pk}"

    @property
    def text(self) -> str:
        """The last user turn: what a one-line listing shows."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message.get("content", "")
        return self.messages[-1].get("content", "") if self.messages else ""


class ResponseSource(models.TextChoices):
    MODEL = "model", "Model"
    HUMAN = "human", "Human"
    IMPORTED = "imported", "Imported"


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    source = models.CharField(max_length=16, choices=ResponseSource.choices)
    model_name = models.CharField(max_length=200, blank=True)
    sampling = models.JSONField(default=dict, blank=True, help_text="Sampling parameters used.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Response {self.pk} ({self.model_name or self.source})"


class ComparisonItem(models.Model):
    """A prompt with 2 (pairwise) or K responses in a fixed canonical order.

    ``assigned_count`` counts live leases plus submissions; ``is_open`` caches
    ``assigned_count < overlap`` (and not removed) so the queue reads one partial
    index. Both are written only by the queue services, under a row lock.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="items")
    responses = models.ManyToManyField(Response, through="ItemResponse", related_name="items")
    is_gold = models.BooleanField(default=False)
    gold_answer = models.JSONField(null=True, blank=True)
    priority = models.IntegerField(default=0)
    assigned_count = models.PositiveIntegerField(default=0)
    submitted_count = models.PositiveIntegerField(default=0)
    is_open = models.BooleanField(default=True)
    removed_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Set while an admin has taken the item out of the queue: it stays closed "
                  "(is_open false) and is handed to no one, gold or not, until restored.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # The labeling queue: highest priority first, then oldest.
            models.Index(
                "project",
                models.F("priority").desc(),
                "created_at",
                "id",
                name="item_queue_idx",
                condition=models.Q(is_open=True, is_gold=False),
            ),
            models.Index(
                fields=["project", "id"], name="item_gold_idx", condition=models.Q(is_gold=True)
            ),
        ]

    def __str__(self) -> str:
        return f"Item {self.pk}"


class ItemResponse(models.Model):
    item = models.ForeignKey(ComparisonItem, on_delete=models.CASCADE, related_name="slots")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(help_text="Canonical position: 0 is A, 1 is B, …")

    class Meta:
        ordering = ["item_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["item", "position"], name="itemresponse_unique_position"),
            models.UniqueConstraint(fields=["item", "response"], name="itemresponse_unique_response"),
        ]

    def __str__(self) -> str:
        return f"Item {self.item_id} position {self.position}"
