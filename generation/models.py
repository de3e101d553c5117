from django.conf import settings
from django.db import models

from annotation.models import Project, Prompt
from core.jobs.models import DurableJob
from core.jobs.models import JobStatus as BaseJobStatus


class ModelRole(models.TextChoices):
    POLICY = "policy", "Policy (generates responses)"
    REWARD = "reward", "Reward model backbone"
    JUDGE = "judge", "Judge (labels items)"


class BackendName(models.TextChoices):
    TRANSFORMERS = "transformers", "transformers generate (in-process, CPU default)"
    VLLM_SERVER = "vllm-server", "vLLM OpenAI-compatible server"
    VLLM = "vllm", "vLLM engine in-process (solo GPU worker)"


class ModelSpec(models.Model):
    """A model the platform can run: a local checkpoint folder, an endpoint, or both."""

    name = models.SlugField(max_length=100, unique=True)
    role = models.CharField(max_length=16, choices=ModelRole.choices)
    backend = models.CharField(max_length=16, choices=BackendName.choices,
                               default=BackendName.TRANSFORMERS,
                               help_text="Default backend; a job may pick another.")
    path = models.CharField(max_length=500, blank=True,
                            help_text="Checkpoint folder (config, safetensors, tokenizer).")
    endpoint_url = models.CharField(
        max_length=300, blank=True,
        help_text="OpenAI-compatible base URL ending in /v1, set by serve_generation.")
    served_name = models.CharField(max_length=200, blank=True,
                                   help_text="The model's name at the endpoint (default: name).")
    base_model = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=300, blank=True,
                              help_text="Where the weights came from (a wheel, a training run).")
    metadata = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    # Whose model it is. A trained model belongs to the project whose labels it
    # learned from: only that project lists it and generates or trains with it.
    # No project: a base model a site administrator registered (bootstrap_models,
    # the admin), usable by every project. A site administrator can share a
    # project's model with every project by setting `shared`.
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="model_specs",
                                help_text="The project that trained it; empty for base models.")
    shared = models.BooleanField(default=False,
                                 help_text="Usable by every project, not only its own.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


class JobKind(models.TextChoices):
    GENERATE = "generate", "Generate candidates and build items"
    LABEL = "label", "AI labeler annotates items"


# The shared enum of every durable job (the name stays for this app's readers).
JobStatus = BaseJobStatus


class Strategy(models.TextChoices):
    ALL_PAIRS = "all_pairs", "All pairs of the N samples"
    RANDOM_PAIRS = "random_pairs", "A random subset of the pairs"
    CROSS_MODEL = "cross_model", "Cross-model A/B (one sample of each of two models)"
    RANKING = "ranking", "K-way ranking sets"
    SINGLE = "single", "One response per item (feedback)"


class GenerationJob(DurableJob):
    """A generation or AI-labeling run. The row, not the broker, owns the status.

    Runs are claimed with a compare-and-set on ``status`` and heartbeat while
    they work; every progress write is conditional on the row still being
    ``running``, so a cancel takes effect at the next prompt and rolls back
    that prompt's partial writes.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="generation_jobs")
    kind = models.CharField(max_length=16, choices=JobKind.choices, default=JobKind.GENERATE)
    model_specs = models.ManyToManyField(ModelSpec, related_name="jobs")
    backend = models.CharField(max_length=16, choices=BackendName.choices, blank=True,
                               help_text="Empty: each model's own backend.")
    sampling = models.JSONField(default=dict, blank=True)
    strategy = models.CharField(max_length=16, choices=Strategy.choices, blank=True)
    max_items_per_prompt = models.PositiveIntegerField(null=True, blank=True)
    prompt_ids = models.JSONField(null=True, blank=True,
                                  help_text="Chosen prompts; null: all prompts up to prompt_max_id.")
    prompt_max_id = models.BigIntegerField(null=True, blank=True)
    max_items = models.PositiveIntegerField(null=True, blank=True,
                                            help_text="Label jobs: stop after this many items.")
    progress_total = models.PositiveIntegerField(default=0)
    progress_done = models.PositiveIntegerField(default=0)
    responses_created = models.PositiveIntegerField(default=0)
    items_created = models.PositiveIntegerField(default=0)
    annotations_created = models.PositiveIntegerField(default=0)
    dropped = models.PositiveIntegerField(default=0, help_text="Empty or duplicate samples dropped.")
    tokens_generated = models.PositiveBigIntegerField(default=0)
    # The base's fencing token, under the column name this table always had.
    attempt = models.PositiveIntegerField(default=0, db_column="attempts",
                                          help_text="Claims so far; bumped by each claim.")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="genjob_project_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="genjob_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"


class GenerationJobPrompt(models.Model):
    """A prompt a job has finished: written in the same transaction as its
    responses and items, which is what makes a restarted job skip it."""

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="done_prompts")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="+")
    responses = models.PositiveIntegerField(default=0)
    items = models.PositiveIntegerField(default=0)
    tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "prompt"], name="genjobprompt_unique_prompt"),
        ]

    def __str__(self) -> str:
        return f"Job {self.job_id} prompt {self.prompt_id}"


class ModelLabeler(models.Model):
    """A labeler account of kind "model": the user a judge model labels as."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="model_labeler")
    model = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="labelers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.user} ({self.model.name})"


class JudgePrompt(models.Model):
    """The project's own judge prompt; without one the default template is used."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="judge_prompt")
    template = models.TextField(
        help_text="Must contain {prompt}, {response_a} and {response_b}.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Judge prompt of {self.project}"
