"""`seed_demo` queues the demo project's generation job for the worker (it
generates nothing itself) and the job, run as the worker runs it, builds items."""

import pytest
from django.core.management import call_command

from annotation.models import ComparisonItem, Project
from generation import tasks
from generation.models import GenerationJob, JobStatus
from generation.services.jobs import generation_job_run


@pytest.fixture
def sent(monkeypatch):
    """The worker's queue: tasks are recorded, not run in the command."""
    queued = []
    monkeypatch.setattr(tasks.generation_job_run_task, "apply_async",
                        lambda args, **_: queued.append(tuple(args)))
    return queued


@pytest.fixture
def seed(django_capture_on_commit_callbacks):
    """seed_demo, with its on-commit callbacks (the task send) run as on commit."""
    def run(*args):
        with django_capture_on_commit_callbacks(execute=True):
            call_command("seed_demo", *args)
    return run


def test_seed_demo_queues_one_job_that_the_worker_turns_into_items(db, tiny_spec, sent, seed, capsys):
    seed()
    project = Project.objects.get(slug="demo-generated")
    job = GenerationJob.objects.get(project=project)
    assert sent == [(job.pk,)]  # queued for the worker, on commit
    assert job.status == JobStatus.QUEUED and job.progress_done == 0
    assert job.progress_total == project.prompts.count() == 8
    assert [s.name for s in job.model_specs.all()] == ["tiny"] and job.sampling["n"] == 2
    assert not ComparisonItem.objects.filter(project=project).exists()
    out = capsys.readouterr().out
    assert f"generation job #{job.pk} queued for 8 prompts" in out
    assert f"/projects/{project.pk}/generation/" in out

    GenerationJob.objects.filter(pk=job.pk).update(sampling=job.sampling | {"max_tokens": 4})
    done = generation_job_run(job_id=job.pk)  # what the worker's task does
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.progress_done == 8
    assert ComparisonItem.objects.filter(project=project).count() == done.items_created > 0


def test_seed_demo_again_queues_no_second_job(db, tiny_spec, sent, seed, capsys):
    seed()
    seed()
    assert GenerationJob.objects.count() == 1 and len(sent) == 1
    assert "already has its generation job" in capsys.readouterr().out


def test_without_a_model_seed_demo_says_how_to_get_one(db, sent, seed, capsys):
    seed()
    assert not GenerationJob.objects.exists() and sent == []
    assert "run `python manage.py bootstrap_models`" in capsys.readouterr().out


def test_no_generate_skips_the_job(db, tiny_spec, sent, seed):
    seed("--no-generate")
    assert not GenerationJob.objects.exists()


def test_the_demo_job_uses_vllms_server_when_one_answers(db, tiny_spec, sent, seed, settings):
    from tests.generation.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:  # answers /v1/models as vLLM's server does
        settings.PALATE_VLLM_URL = server.url
        seed()
    assert GenerationJob.objects.get().backend == "vllm-server"


def test_without_a_vllm_server_the_demo_job_uses_the_models_backend(db, tiny_spec, sent, seed,
                                                                    settings):
    from tests.generation.test_backend_vllm_server_errors import closed_port_url

    settings.PALATE_VLLM_URL = closed_port_url()
    seed()
    assert GenerationJob.objects.get().backend == ""  # the model's own: transformers
