"""Generation jobs on the transformers backend with the tiny model."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.errors import Conflict, Invalid, NotFound
from annotation.models import ComparisonItem, Response, TaskType
from generation.models import GenerationJob, GenerationJobPrompt, JobStatus, ModelRole
from generation.services import jobs as job_services
from generation.services.jobs import (
    GenerationUnavailable,
    JobStopped,
    generation_job_cancel,
    generation_job_create,
    generation_job_resume,
    generation_job_run,
    generation_jobs_requeue_stale,
    job_progress,
)
from generation.services.registry import model_spec_register
from tests.factories import project_make, prompts_make
from tests.generation.test_backend_vllm_server_errors import closed_port_url

SAMPLING = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 6, "seed": 1}


def create(project, user=None, **options):
    options.setdefault("model_names", ["tiny"])
    options.setdefault("sampling", SAMPLING)
    return generation_job_create(project=project, user=user, enqueue=False, **options)


@pytest.fixture
def prompts(project):
    return prompts_make(project, 3)


def test_job_builds_all_pairs_of_n_samples(project, prompts, tiny_spec, engineer):
    job = create(project, engineer, n=3)
    job = generation_job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.progress_done, job.progress_total) == (3, 3)
    items = ComparisonItem.objects.filter(project=project)
    assert job.items_created == items.count() > 0
    assert job.responses_created == Response.objects.filter(metadata__job=job.pk).count()
    for prompt in prompts:  # r distinct samples make r(r-1)/2 pairs
        kept = Response.objects.filter(prompt=prompt, metadata__job=job.pk).count()
        assert items.filter(prompt=prompt).count() == kept * (kept - 1) // 2
    assert job.tokens_generated > 0 and job.finished_at and job.started_at


def test_responses_record_model_sampling_and_finish_reason(project, prompts, tiny_spec):
    job = generation_job_run(job_id=create(project, n=2).pk)
    response = Response.objects.filter(metadata__job=job.pk).first()
    assert response.source == "model" and response.model_name == "tiny"
    assert response.sampling["max_tokens"] == 6 and response.sampling["n"] == 2
    assert response.metadata["finish_reason"] in ("stop", "length")
    assert response.metadata["truncated"] == (response.metadata["finish_reason"] == "length")
    assert response.metadata["backend"] == "transformers"


def test_identical_samples_are_dropped_and_make_no_item(project, prompts, tiny_spec):
    greedy = {"temperature": 0.0, "max_tokens": 4}
    job = generation_job_run(job_id=create(project, n=2, sampling=greedy).pk)
    assert job.status == JobStatus.SUCCEEDED
    # a greedy pair is one answer twice (or empty twice): never an item
    assert job.dropped >= 3 and job.items_created == 0


def test_a_second_delivery_of_the_task_does_nothing(project, prompts, tiny_spec):
    job = create(project)
    assert generation_job_run(job_id=job.pk).status == JobStatus.SUCCEEDED
    items = ComparisonItem.objects.count()
    assert generation_job_run(job_id=job.pk) is None
    assert ComparisonItem.objects.count() == items


def test_cancel_stops_at_the_next_prompt_and_resume_skips_finished_ones(
        project, prompts, tiny_spec, monkeypatch):
    monkeypatch.setattr(job_services, "PROMPTS_PER_CHUNK", 1)
    job = create(project)

    def cancel_after_first(current):
        if current.progress_done == 1 and current.status == JobStatus.RUNNING:
            generation_job_cancel(job=current)

    job = generation_job_run(job_id=job.pk, on_progress=cancel_after_first)
    assert job.status == JobStatus.CANCELLED and job.progress_done == 1
    first_done = GenerationJobPrompt.objects.get(job=job)
    first_responses = set(Response.objects.filter(prompt=first_done.prompt_id)
                          .values_list("pk", flat=True))

    job = generation_job_resume(job=job)
    assert job.status == JobStatus.QUEUED
    job = generation_job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED and job.progress_done == 3 and job.attempt == 2
    assert set(Response.objects.filter(prompt=first_done.prompt_id)
               .values_list("pk", flat=True)) == first_responses
    assert GenerationJobPrompt.objects.filter(job=job).count() == 3


def test_a_cancel_during_a_prompt_rolls_that_prompt_back(project, prompts, tiny_spec):
    job = create(project)
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempt=1)
    job.refresh_from_db()
    generation_job_cancel(job=job)
    with pytest.raises(JobStopped):
        job_progress(job, progress_done=1)
    assert GenerationJob.objects.get(pk=job.pk).progress_done == 0


def test_only_failed_or_cancelled_jobs_resume(project, prompts, tiny_spec):
    job = generation_job_run(job_id=create(project).pk)
    with pytest.raises(Conflict):
        generation_job_resume(job=job)
    with pytest.raises(Conflict):
        generation_job_cancel(job=job)


def test_a_missing_checkpoint_fails_the_job_with_the_reason(project, prompts, tmp_path):
    model_spec_register(name="gone", role=ModelRole.POLICY, path=str(tmp_path / "gone"))
    job = generation_job_run(job_id=create(project, model_names=["gone"]).pk)
    assert job.status == JobStatus.FAILED
    assert "bootstrap_models" in job.error and job.finished_at is not None


def test_watchdog_requeues_a_run_that_stopped_heartbeating(project, prompts, tiny_spec):
    job = create(project)
    old = timezone.now() - timedelta(hours=1)
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempt=1,
                                                   heartbeat_at=old)
    job.refresh_from_db()
    assert generation_jobs_requeue_stale(stale_after=timedelta(minutes=5)) == 1
    assert GenerationJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
    with pytest.raises(JobStopped):  # the old run, if alive, loses its claim
        job_progress(job, progress_done=1)
    assert generation_job_run(job_id=job.pk).status == JobStatus.SUCCEEDED


def test_watchdog_leaves_live_runs_alone(project, prompts, tiny_spec):
    job = create(project)
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempt=1,
                                                   heartbeat_at=timezone.now())
    assert generation_jobs_requeue_stale(stale_after=timedelta(minutes=5)) == 0


def test_ranking_project_gets_k_way_items(admin, tiny_spec):
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3)
    prompts_make(project, 2)
    job = generation_job_run(job_id=create(project, n=3).pk)
    assert job.status == JobStatus.SUCCEEDED
    for item in ComparisonItem.objects.filter(project=project):
        assert item.slots.count() == 3


def test_feedback_project_gets_one_item_per_sample_and_no_pairs_or_judge(admin, tiny_spec):
    project = project_make(creator=admin, task_type=TaskType.FEEDBACK)
    prompts_make(project, 2)
    job = generation_job_run(job_id=create(project, n=2).pk)
    assert job.status == JobStatus.SUCCEEDED and job.strategy == "single"
    items = ComparisonItem.objects.filter(project=project)
    assert items.count() == Response.objects.filter(prompt__project=project).count() > 0
    assert all(item.slots.count() == 1 for item in items)
    with pytest.raises(Invalid) as error:
        create(project, strategy="all_pairs")
    assert error.value.field == "strategy"
    with pytest.raises(Invalid) as error:
        create(project, kind="label")
    assert error.value.field == "kind"


def test_cross_model_items_put_two_models_side_by_side(project, prompts, tiny_spec, tiny_spec_b):
    job = generation_job_run(job_id=create(project, model_names=["tiny", "tiny-b"]).pk)
    assert job.strategy == "cross_model" and job.status == JobStatus.SUCCEEDED
    for item in ComparisonItem.objects.filter(project=project):
        assert {s.response.model_name for s in item.slots.all()} == {"tiny", "tiny-b"}


def test_a_job_can_target_chosen_prompts(project, prompts, tiny_spec):
    job = generation_job_run(job_id=create(project, prompt_ids=[prompts[1].pk]).pk)
    assert [p.prompt_id for p in GenerationJobPrompt.objects.filter(job=job)] == [prompts[1].pk]


def test_prompts_added_after_the_job_was_created_are_not_generated(project, prompts, tiny_spec):
    job = create(project)
    prompts_make(project, 2)
    assert generation_job_run(job_id=job.pk).progress_done == 3


@pytest.mark.parametrize("options, field", [
    ({"model_names": ["nope"]}, "models"),
    ({"strategy": "ranking"}, "strategy"),
    ({"strategy": "cross_model"}, "strategy"),
    ({"n": 1}, "n"),
    ({"sampling": {"temperature": -1}}, "sampling"),
    ({"prompt_ids": [999_999]}, "prompt_ids"),
    ({"backend": "magic"}, "backend"),
])
def test_invalid_jobs_are_refused_with_the_field(project, prompts, tiny_spec, options, field):
    with pytest.raises((Invalid, NotFound)) as error:
        create(project, **options)
    assert error.value.field == field
    assert not GenerationJob.objects.exists()


def test_a_project_without_prompts_is_refused(project, tiny_spec):
    with pytest.raises(Invalid, match="no prompts"):
        create(project)


def test_a_down_vllm_server_refuses_the_job_before_queueing(project, prompts):
    model_spec_register(name="served", role=ModelRole.POLICY, backend="vllm-server",
                        endpoint_url=closed_port_url())
    with pytest.raises(GenerationUnavailable, match="not reachable"):
        create(project, model_names=["served"])
    assert not GenerationJob.objects.exists()


def test_the_task_is_queued_only_when_the_transaction_commits(
        project, prompts, tiny_spec, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    from generation import tasks

    monkeypatch.setattr(tasks.generation_job_run_task, "apply_async",
                        lambda args, **_: sent.append(tuple(args)))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = generation_job_create(project=project, model_names=["tiny"])
    assert len(callbacks) == 1 and sent == [(job.pk,)]


def test_in_process_cpu_generation_starts_with_small_chunks_for_early_progress(
        project, tiny_spec, monkeypatch):
    """transformers: chunks of 1, 2, 4, … prompts (progress after seconds, then
    full batches); a server backend gets full chunks from the start."""
    prompts_make(project, 8)
    from generation.backends import transformers_backend

    sizes, progress = [], []
    real = transformers_backend.TransformersBackend.generate

    def recording(self, conversations, sampling):
        sizes.append(len(conversations))
        return real(self, conversations, sampling)

    monkeypatch.setattr(transformers_backend.TransformersBackend, "generate", recording)
    monkeypatch.setattr(job_services, "PROMPTS_PER_CHUNK", 4)
    job = generation_job_run(job_id=create(project, n=2).pk,
                             on_progress=lambda j: progress.append(j.progress_done))
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert sizes == [1, 2, 4, 1]
    assert progress[0] == 1 and progress[-1] == 8
    assert job_services._first_chunk([type("Server", (), {"name": "vllm-server"})()]) == 4
