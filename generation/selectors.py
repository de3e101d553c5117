"""Reads. Each takes an already permission-checked project."""

from django.db.models import Q, QuerySet

from annotation.errors import NotFound
from annotation.models import Membership, Project, Response, Role
from generation.models import GenerationJob, GenerationJobPrompt, JobKind, JobStatus, ModelSpec
from generation.services.registry import model_specs_usable


def job_for_project(*, project: Project, job_id) -> GenerationJob:
    """The job if it belongs to ``project``; NotFound otherwise, whether or not it exists."""
    try:
        pk = int(job_id)
    except (TypeError, ValueError):
        raise NotFound("Generation job not found.") from None
    job = (GenerationJob.objects.filter(pk=pk, project=project)
           .select_related("created_by").prefetch_related("model_specs").first())
    if job is None:
        raise NotFound("Generation job not found.")
    return job


def job_list(*, project: Project) -> QuerySet[GenerationJob]:
    return (GenerationJob.objects.filter(project=project)
            .select_related("created_by").prefetch_related("model_specs")
            .order_by("-created_at", "-pk"))


def job_samples(*, job: GenerationJob, prompts: int = 3) -> list[Response]:
    """Responses of the job's latest finished prompts, for reading samples."""
    prompt_ids = list(GenerationJobPrompt.objects.filter(job=job).order_by("-pk")
                      .values_list("prompt_id", flat=True)[:prompts])
    return list(Response.objects.filter(prompt_id__in=prompt_ids, metadata__job=job.pk)
                .order_by("prompt_id", "pk"))


def model_spec_list(*, project: Project) -> QuerySet[ModelSpec]:
    """The models ``project`` may use (base, shared and its own)."""
    return model_specs_usable(project=project).order_by("name")


def model_spec_list_for_user(*, user) -> QuerySet[ModelSpec]:
    """Models a user may see in the registry: every one for superusers; else
    base and shared models and those of the projects the user curates."""
    specs = ModelSpec.objects.filter(is_active=True)
    if user.is_superuser:
        return specs.order_by("name")
    curated = Membership.objects.filter(user=user, role__in=(Role.ADMIN, Role.ENGINEER))
    return specs.filter(Q(project__isnull=True) | Q(shared=True)
                        | Q(project__in=curated.values("project_id"))).order_by("name")


def jobs_generating(*, project_ids: list[int]) -> dict[int, GenerationJob]:
    """Per project, its oldest queued or running candidate-generation job (the
    one whose items arrive next), in one query. For pages that must not call a
    project "all done" while its items are still being written."""
    jobs = (GenerationJob.objects.filter(project_id__in=project_ids, kind=JobKind.GENERATE,
                                         status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
            .order_by("created_at", "pk").only("project_id", "status", "progress_done",
                                               "progress_total", "items_created"))
    found: dict[int, GenerationJob] = {}
    for job in jobs:
        found.setdefault(job.project_id, job)
    return found
