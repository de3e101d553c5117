"""Generation jobs: create, run, cancel, resume, and the stale-run watchdog.

Claiming is a compare-and-set on the row (``status=queued`` → ``running`` and
``attempt + 1``, core.jobs.fencing). The attempt number is a fencing token: every later write
of a run is conditional on ``status=running`` and its own attempt, so a run
that was cancelled, or requeued by the watchdog and claimed again, stops at
its next write instead of racing the new one.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation.errors import Conflict, Invalid
from annotation.models import (
    ComparisonItem,
    Project,
    Prompt,
    Response,
    ResponseSource,
)
from annotation.services.items import item_create
from annotation.task_types import task_type_of
from audit.services import audit_record
from core.jobs.fencing import job_claim, job_mine, jobs_requeue_stale
from core.jobs.registry import job_kind
from generation import best_of_n
from generation.backends.base import BackendError, PromptResult, SamplingParams
from generation.models import (
    BackendName,
    GenerationJob,
    GenerationJobPrompt,
    JobKind,
    JobStatus,
    ModelRole,
    ModelSpec,
    Strategy,
)
from generation.services.job_progress import JobStopped, ProgressCallback, job_heartbeat, job_progress
from generation.services.labeling import judge_check, judge_labeler_ensure, label_job_execute, label_job_total
from generation.services.registry import model_spec_default, model_spec_get
from generation.services.runtime import backend_for, backend_name_for, backend_release
from generation.strategies import (
    SCORED_STRATEGIES,
    STRATEGIES,
    Candidate,
    candidates_clean,
)

logger = logging.getLogger(__name__)

PROMPTS_PER_CHUNK = 16
MAX_MODELS = 4
GENERATE_DEFAULTS = {"temperature": 0.8, "top_p": 0.95, "max_tokens": 256}
LABEL_DEFAULTS = {"n": 1, "temperature": 0.0, "max_tokens": 96}


class GenerationUnavailable(Conflict):
    code = "generation_unavailable"


# Creating ------------------------------------------------------------------
def _sampling_clean(data: dict | None, *, defaults: dict, n: int | None) -> SamplingParams:
    values = {**defaults, **(data or {})}
    if n is not None:
        values["n"] = n
    try:
        return SamplingParams.from_dict(values)
    except (TypeError, ValueError) as error:
        raise Invalid(str(error), field="sampling") from None


def _strategy_clean(project: Project, strategy: str, specs: list[ModelSpec]) -> str:
    task = task_type_of(project)
    if not strategy:
        return task.default_strategy(n_models=len(specs))
    if strategy not in STRATEGIES:
        raise Invalid(f"strategy must be one of {', '.join(STRATEGIES)}", field="strategy")
    if strategy not in task.strategies:
        raise Invalid(task.strategy_hint, field="strategy")
    if strategy == Strategy.CROSS_MODEL and len(specs) < 2:
        raise Invalid("cross_model compares two or more models", field="strategy")
    if strategy == best_of_n.NAME:
        best_of_n.reward_model_check(project=project)
    return strategy


def _prompts_clean(project: Project, prompt_ids) -> tuple[list[int] | None, int | None, int]:
    prompts = Prompt.objects.filter(project=project)
    if prompt_ids is None:
        last = prompts.order_by("-pk").values_list("pk", flat=True).first()
        total = prompts.count()
        if not total:
            raise Invalid("the project has no prompts to generate for", field="prompt_ids")
        return None, last, total
    if not isinstance(prompt_ids, list) or not prompt_ids or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in prompt_ids):
        raise Invalid("must be a non-empty list of prompt ids", field="prompt_ids")
    wanted = sorted(set(prompt_ids))
    found = set(prompts.filter(pk__in=wanted).values_list("pk", flat=True))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise Invalid(f"not prompts of this project: {missing[:10]}", field="prompt_ids")
    return wanted, None, len(wanted)


def backend_check(spec: ModelSpec, backend: str = "") -> None:
    """Fail fast when a server backend is not answering, before queueing work.
    In-process backends are checked by the run itself (loading is the check)."""
    if backend_name_for(spec, backend) != BackendName.VLLM_SERVER:
        return
    client = backend_for(spec, backend, timeout=5.0, retries=0)
    try:
        client.health()
    except BackendError as error:
        raise GenerationUnavailable(str(error), field="backend") from None
    finally:
        backend_release(client)


def generation_job_create(
    *,
    project: Project,
    user=None,
    kind: str = JobKind.GENERATE,
    model_names: list[str] | None = None,
    backend: str = "",
    n: int | None = None,
    sampling: dict | None = None,
    strategy: str = "",
    max_items_per_prompt: int | None = None,
    prompt_ids: list[int] | None = None,
    max_items: int | None = None,
    check_backend: bool = True,
    enqueue: bool = True,
) -> GenerationJob:
    """A queued job; its Celery task is sent when this transaction commits."""
    if kind not in JobKind.values:
        raise Invalid(f"kind must be one of {', '.join(JobKind.values)}", field="kind")
    if backend and backend not in BackendName.values:
        raise Invalid(f"backend must be one of {', '.join(BackendName.values)}", field="backend")
    if max_items_per_prompt is not None and max_items_per_prompt < 1:
        raise Invalid("must be at least 1", field="max_items_per_prompt")
    if max_items is not None and max_items < 1:
        raise Invalid("must be at least 1", field="max_items")
    names = list(dict.fromkeys(model_names or []))
    job = GenerationJob(project=project, kind=kind, backend=backend, created_by=user,
                        max_items_per_prompt=max_items_per_prompt, max_items=max_items)
    if kind == JobKind.GENERATE:
        roles: tuple[ModelRole, ...] = (ModelRole.POLICY,)
        specs = ([model_spec_get(name=name, project=project, roles=roles) for name in names] if names
                 else [model_spec_default(project=project, roles=roles)])
        if len(specs) > MAX_MODELS:
            raise Invalid(f"at most {MAX_MODELS} models per job", field="models")
        job.strategy = _strategy_clean(project, strategy, specs)
        if n is None and job.strategy != Strategy.CROSS_MODEL:
            n = project.num_responses
        params = _sampling_clean(sampling, defaults=GENERATE_DEFAULTS, n=n)
        per_prompt = params.n * len(specs)
        if per_prompt < project.num_responses:
            raise Invalid(f"{per_prompt} samples per prompt cannot fill items of "
                          f"{project.num_responses} responses: raise n", field="n")
        job.prompt_ids, job.prompt_max_id, job.progress_total = _prompts_clean(project, prompt_ids)
    else:
        judge_check(project=project)
        if len(names) > 1:
            raise Invalid("a label job uses one judge model", field="models")
        roles = (ModelRole.JUDGE, ModelRole.POLICY)
        specs = [model_spec_get(name=names[0], project=project, roles=roles) if names
                 else model_spec_default(project=project, roles=roles)]
        if strategy or prompt_ids is not None or max_items_per_prompt is not None:
            raise Invalid("label jobs take models, backend, sampling and max_items only",
                          field="kind")
        params = _sampling_clean(sampling, defaults=LABEL_DEFAULTS, n=1 if n is None else n)
        if params.n != 1:
            raise Invalid("the judge answers once per pass (n=1)", field="n")
        job.progress_total = label_job_total(project=project, max_items=max_items)
    if check_backend:
        # Outside the transaction: no row lock is held while a server is asked.
        for spec in specs:
            backend_check(spec, backend)
    job.sampling = params.as_dict()
    with transaction.atomic():
        if kind == JobKind.LABEL:
            judge_labeler_ensure(project=project, spec=specs[0])
        job.save()
        job.model_specs.set(specs)
        audit_record(user, "generation_job.create", job, kind=job.kind, prompts=job.progress_total)
        if enqueue:
            _enqueue(job)
    return job


def _enqueue(job: GenerationJob) -> None:
    job_kind("generation_jobs").send(job.pk, on_commit=True)


# Cancel, resume, watchdog -----------------------------------------------------
def generation_job_cancel(*, job: GenerationJob, actor=None) -> GenerationJob:
    """Stop a queued or running job. A running one stops at its next prompt; the
    prompt in flight is rolled back, everything finished before stays."""
    with transaction.atomic():
        updated = GenerationJob.objects.filter(
            pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        ).update(status=JobStatus.CANCELLED, finished_at=timezone.now())
        job.refresh_from_db()
        if not updated and job.status != JobStatus.CANCELLED:
            raise Conflict(f"the job has already {job.status}", field="status")
        if updated:
            audit_record(actor, "generation_job.cancel", job)
    return job


def generation_job_resume(*, job: GenerationJob, check_backend: bool = True, actor=None) -> GenerationJob:
    """Queue a failed or cancelled job again; it skips the prompts it finished."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(f"only failed or cancelled jobs resume; this one is {job.status}",
                       field="status")
    if check_backend:
        for spec in job.model_specs.all():
            backend_check(spec, job.backend)
    with transaction.atomic():
        updated = GenerationJob.objects.filter(
            pk=job.pk, status__in=[JobStatus.FAILED, JobStatus.CANCELLED],
        ).update(status=JobStatus.QUEUED, error="", finished_at=None)
        job.refresh_from_db()
        if not updated:
            raise Conflict(f"only failed or cancelled jobs resume; this one is {job.status}",
                           field="status")
        audit_record(actor, "generation_job.resume", job)
        _enqueue(job)
    return job


def generation_jobs_requeue_stale(*, now: datetime | None = None,
                                  stale_after: timedelta | None = None) -> int:
    """Requeue running jobs whose worker stopped heartbeating (it died)."""
    stale_after = stale_after or timedelta(seconds=settings.PALATE_GENERATION_STALE_SECONDS)
    return jobs_requeue_stale(kind="generation_jobs", now=now, stale_after=stale_after)["requeued"]


# Running -------------------------------------------------------------------
def generation_job_run(*, job_id: int, on_progress: ProgressCallback | None = None
                       ) -> GenerationJob | None:
    """Run a queued job to the end. Returns None when there was nothing to claim
    (a duplicate delivery, or a job cancelled while queued)."""
    if not job_claim(GenerationJob, pk=job_id, error=""):
        return None
    job = GenerationJob.objects.select_related("project").get(pk=job_id)
    try:
        if job.kind == JobKind.LABEL:
            label_job_execute(job=job, on_progress=on_progress)
        else:
            _generate_execute(job=job, on_progress=on_progress)
    except JobStopped:
        logger.info("generation job %s stopped: no longer this run's", job.pk)
    except (BackendError, Invalid, Conflict) as error:
        job_mine(job).update(status=JobStatus.FAILED, error=str(error)[:10_000],
                          finished_at=timezone.now())
    except Exception as error:
        logger.exception("generation job %s failed", job.pk)
        job_mine(job).update(status=JobStatus.FAILED,
                          error=f"{type(error).__name__}: {error}"[:10_000],
                          finished_at=timezone.now())
    else:
        job_mine(job).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    job.refresh_from_db()
    if on_progress is not None:
        on_progress(job)
    return job


def job_prompts(job: GenerationJob) -> QuerySet[Prompt]:
    prompts = Prompt.objects.filter(project_id=job.project_id)
    if job.prompt_ids is not None:
        prompts = prompts.filter(pk__in=job.prompt_ids)
    else:
        prompts = prompts.filter(pk__lte=job.prompt_max_id or 0)
    return prompts.order_by("pk")


def _first_chunk(backends) -> int:
    """In-process transformers generation on a CPU takes minutes per full chunk
    and progress moves only between chunks: start with one prompt and double
    (1, 2, 4, … PROMPTS_PER_CHUNK), so the first results, and any error, show
    within seconds while later chunks keep the large batches that make CPU
    generation efficient. Server backends batch across requests themselves."""
    if all(backend.name == BackendName.TRANSFORMERS for backend in backends):
        return 1
    return PROMPTS_PER_CHUNK


def _generate_execute(*, job: GenerationJob, on_progress: ProgressCallback | None) -> None:
    specs = list(job.model_specs.order_by("pk"))
    sampling = SamplingParams.from_dict(job.sampling)
    backends = [backend_for(spec, job.backend) for spec in specs]
    try:
        for backend in backends:
            backend.health()  # before dispatching: a clear error beats N failed prompts
        done = GenerationJobPrompt.objects.filter(job=job).values("prompt_id")
        remaining = job_prompts(job).exclude(pk__in=done)
        last_pk = 0
        size = _first_chunk(backends)
        while True:
            chunk = list(remaining.filter(pk__gt=last_pk)[:size])
            size = min(2 * size, PROMPTS_PER_CHUNK)
            if not chunk:
                return
            last_pk = chunk[-1].pk
            job_heartbeat(job)
            conversations = [prompt.messages for prompt in chunk]
            outputs = [backend.generate(conversations, sampling) for backend in backends]
            for index, prompt in enumerate(chunk):
                _prompt_store(job=job, prompt=prompt, sampling=sampling,
                              results=[(spec, backend.name, output[index])
                                       for spec, backend, output in zip(specs, backends, outputs,
                                                                        strict=True)])
                if on_progress is not None:
                    job.refresh_from_db()
                    on_progress(job)
    finally:
        for backend in backends:
            backend_release(backend)


@transaction.atomic
def _prompt_store(*, job: GenerationJob, prompt: Prompt, sampling: SamplingParams,
                  results: list[tuple[ModelSpec, str, PromptResult]]) -> None:
    """Responses, items and the done-marker of one prompt: all or nothing."""
    project = job.project
    raw = [Candidate(spec.name, k, c.text, c.finish_reason, c.completion_tokens)
           for spec, _, result in results for k, c in enumerate(result.completions)]
    backend_of = {spec.name: backend for spec, backend, _ in results}
    kept, dropped = candidates_clean(raw)
    rng = random.Random(f"{job.pk}:{prompt.pk}")  # noqa: S311 - shuffling, not secrets
    scored = {"scores": best_of_n.candidates_score(
        project=project, prompt_messages=prompt.messages, texts=[c.text for c in kept])
    } if job.strategy in SCORED_STRATEGIES else {}
    groups = STRATEGIES[job.strategy](kept, k=project.num_responses,
                                      max_items=job.max_items_per_prompt, rng=rng, **scored)
    responses = Response.objects.bulk_create([
        Response(prompt=prompt, text=c.text, source=ResponseSource.MODEL, model_name=c.model_name,
                 sampling=job.sampling,
                 metadata={"job": job.pk, "sample_index": c.sample_index,
                           "finish_reason": c.finish_reason, "truncated": c.truncated,
                           "completion_tokens": c.completion_tokens,
                           "backend": backend_of[c.model_name]})
        for c in kept
    ])
    if any(r.pk is None for r in responses):  # backends without RETURNING (old SQLite)
        responses = list(Response.objects.filter(prompt=prompt, metadata__job=job.pk)
                         .order_by("pk"))
    items: list[ComparisonItem] = [
        item_create(project=project, prompt=prompt, responses=[responses[i] for i in group])
        for group in groups
    ]
    tokens = sum(result.completion_tokens for _, _, result in results)
    GenerationJobPrompt.objects.create(job=job, prompt=prompt, responses=len(responses),
                                       items=len(items), tokens=tokens)
    job_progress(job, progress_done=1, responses_created=len(responses),
                 items_created=len(items), dropped=dropped, tokens_generated=tokens)
