"""The generation page of a project, for its admins and engineers: generation
jobs with their status, progress and errors, a form that starts one, cancel
and resume, and samples of the latest job.

Plain forms posting back here (CSRF-protected). Jobs are created by the same
service the REST API calls (generation.services.jobs) and run on the
`generation` Celery queue; static/frontend/js/generation.js refreshes the
progress of queued and running jobs from the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotation.errors import Invalid, NotFound
from annotation.models import ComparisonItem, Project, Prompt
from annotation.task_types import task_type_of
from frontend.views.common import post_action, project_for_page
from generation import selectors
from generation.models import BackendName, GenerationJob, JobKind, JobStatus, ModelRole, Strategy
from generation.services.jobs import (
    GENERATE_DEFAULTS,
    generation_job_cancel,
    generation_job_create,
    generation_job_resume,
)

JOBS_SHOWN = 30
MAX_PROMPT_IDS = 10_000
LIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
# Sampling fields of the form and their types; empty fields keep the defaults.
SAMPLING_FIELDS: dict[str, type] = {"temperature": float, "top_p": float, "max_tokens": int,
                                    "seed": int}
PROMPT_CHOICES = {"all": "All prompts", "new": "Prompts without items yet",
                  "ids": "These prompt ids"}


def _project(request, project_id) -> Project:
    return project_for_page(request, project_id)


def _job(project: Project, job_id) -> GenerationJob:
    # Only among this project's jobs: another project's job id is a 404.
    try:
        return selectors.job_for_project(project=project, job_id=job_id)
    except NotFound:
        raise Http404("Generation job not found.") from None


def _number(post, name: str, kind: type):
    raw = (post.get(name) or "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise Invalid(f"must be {'an integer' if kind is int else 'a number'}",
                      field=name) from None


def _prompt_ids(project: Project, post) -> list[int] | None:
    choice = post.get("prompts", "all")
    if choice == "all":
        return None
    if choice == "new":
        with_items = ComparisonItem.objects.filter(project=project).values("prompt_id")
        ids = list(Prompt.objects.filter(project=project).exclude(pk__in=with_items)
                   .order_by("pk").values_list("pk", flat=True)[:MAX_PROMPT_IDS])
        if not ids:
            raise Invalid("every prompt already has items", field="prompts")
        return ids
    if choice == "ids":
        text = post.get("prompt_ids", "").replace(",", " ").split()
        try:
            ids = [int(token) for token in text]
        except ValueError:
            raise Invalid("must be prompt ids separated by commas or spaces",
                          field="prompt_ids") from None
        if not ids or len(ids) > MAX_PROMPT_IDS:
            raise Invalid(f"list 1 to {MAX_PROMPT_IDS} prompt ids", field="prompt_ids")
        return ids
    raise Invalid(f"must be one of {', '.join(PROMPT_CHOICES)}", field="prompts")


def _start(request, project: Project) -> None:
    post = request.POST
    sampling = {name: value for name, kind in SAMPLING_FIELDS.items()
                if (value := _number(post, name, kind)) is not None}
    job = generation_job_create(
        project=project, user=request.user, kind=JobKind.GENERATE,
        model_names=post.getlist("models") or None, backend=post.get("backend", ""),
        n=_number(post, "n", int), sampling=sampling, strategy=post.get("strategy", ""),
        max_items_per_prompt=_number(post, "max_items_per_prompt", int),
        prompt_ids=_prompt_ids(project, post))
    messages.success(request, f"Generation job #{job.pk} queued for {job.progress_total} prompts.")


def _cancel(request, project: Project) -> None:
    job = generation_job_cancel(job=_job(project, request.POST.get("job")), actor=request.user)
    messages.success(request, f"Job #{job.pk} cancelled.")


def _resume(request, project: Project) -> None:
    job = generation_job_resume(job=_job(project, request.POST.get("job")), actor=request.user)
    messages.success(request, f"Job #{job.pk} queued again; it skips the prompts it finished.")


ACTIONS = {"start": _start, "cancel": _cancel, "resume": _resume}


@dataclass(frozen=True)
class JobRow:
    job: GenerationJob
    models: list[str]
    percent: int
    live: bool
    can_cancel: bool
    can_resume: bool


def _row(job: GenerationJob) -> JobRow:
    total = job.progress_total or 0
    return JobRow(job=job, models=[spec.name for spec in job.model_specs.all()],
                  percent=round(100 * job.progress_done / total) if total else 0,
                  live=job.status in LIVE, can_cancel=job.status in LIVE,
                  can_resume=job.status in (JobStatus.FAILED, JobStatus.CANCELLED))


@login_required
@require_http_methods(["GET", "POST"])
def generation(request, project_id: int):
    project = _project(request, project_id)
    if request.method == "POST":
        return post_action(request, project, ACTIONS, "generation")
    jobs = list(selectors.job_list(project=project)[:JOBS_SHOWN])
    latest = next((j for j in jobs if j.kind == JobKind.GENERATE and j.progress_done), None)
    offered = task_type_of(project).strategies
    strategies = [(value, label) for value, label in Strategy.choices if value in offered]
    return render(request, "frontend/generation.html", {
        "project": project,
        "rows": [_row(job) for job in jobs],
        "api_jobs": reverse("api-generation-jobs", args=[project.pk]),
        "models": selectors.model_spec_list(project=project).filter(role=ModelRole.POLICY),
        "backends": BackendName.choices,
        "strategies": strategies,
        "prompt_choices": PROMPT_CHOICES.items(),
        "prompt_count": Prompt.objects.filter(project=project).count(),
        "defaults": {**GENERATE_DEFAULTS, "n": project.num_responses},
        "latest": latest,
        "samples": selectors.job_samples(job=latest) if latest else [],
    })
