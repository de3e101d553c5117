"""Redis restarted with jobs queued: the broker forgets them, the database does not.

An export and a generation job are requested (their rows committed, their tasks
on the Redis queue) while no worker runs; Redis is shut down without saving and
started again, so the messages are gone. A worker then finds nothing to do until
the redelivery sweep (config/redelivery.py, on beat in production) re-sends the
task of every row still queued; each job then runs exactly once, and a late
duplicate changes nothing. Needs Redis and PostgreSQL (CI=true fails without them).
"""

from collections import Counter
from datetime import timedelta

import pytest
import redis

from annotation.models import ComparisonItem, DatasetExport, ExportStatus
from annotation.services.exports import dataset_export_request
from annotation.tasks import dataset_export_run_task
from config.redelivery import requeue_forgotten
from generation.models import BackendName, GenerationJob, JobStatus, ModelRole
from generation.services.jobs import generation_job_create
from generation.services.registry import model_spec_register
from generation.tasks import generation_job_run_task
from tests.factories import project_make, prompts_make, user_make
from tests.faults.conftest import deliver_duplicate, drain
from tests.faults.outages import redis_restart
from tests.generation.fake_openai import FakeOpenAI
from tests.integration.conftest import wait_for
from tests.training.factories import snapshot_make

pytestmark = pytest.mark.integration


def test_jobs_queued_when_redis_restarts_are_redelivered_from_the_database_and_run_once(
        gated_workers, fault_producer, redis_url, tmp_path):
    from django.core.cache import cache

    cache.clear()
    admin = user_make("fault_redis_admin")
    project = project_make(creator=admin)
    prompts = prompts_make(project, 3)
    snapshot = snapshot_make(project)
    with FakeOpenAI() as fake:
        fake.models = ["redis-policy"]
        model_spec_register(name="redis-policy", role=ModelRole.POLICY, backend=BackendName.VLLM_SERVER,
                            endpoint_url=fake.url)
        export = dataset_export_request(snapshot=snapshot, fmt="raw")
        job = generation_job_create(project=project, model_names=["redis-policy"], n=2,
                                    sampling={"temperature": 1.0, "max_tokens": 4})
        broker = redis.Redis.from_url(redis_url)
        assert broker.llen(gated_workers.queue) == 2  # both messages wait in the broker

        redis_restart()

        assert broker.llen(gated_workers.queue) == 0  # ... and are gone
        broker.close()
        worker = gated_workers(gated=False)
        drain(worker)  # a worker that has taken all there is: nothing happens by itself
        assert DatasetExport.objects.get(pk=export.pk).status == ExportStatus.QUEUED
        assert GenerationJob.objects.get(pk=job.pk).status == JobStatus.QUEUED

        # What the beat sweep does once the rows have waited past its threshold.
        sent = requeue_forgotten(after=timedelta(0))
        assert sent == {"training_runs": 0, "generation_jobs": 1, "exports": 1, "snapshots": 0, "uploads": 0}
        wait_for(lambda: DatasetExport.objects.get(pk=export.pk).status == ExportStatus.SUCCEEDED
                 and GenerationJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED,
                 worker=worker, timeout=120, what="the redelivered export and job finished")

        # Had the first messages survived after all, their late delivery changes nothing.
        deliver_duplicate(worker, dataset_export_run_task, "annotation.tasks.dataset_export_run_task",
                          export.pk)
        deliver_duplicate(worker, generation_job_run_task, "generation.tasks.generation_job_run_task",
                          job.pk)
    job.refresh_from_db()
    assert job.attempt == 1 and job.progress_done == len(prompts)
    assert Counter(ComparisonItem.objects.filter(project=project).values_list("prompt_id", flat=True)) == \
        Counter({p.pk: 1 for p in prompts})
    export.refresh_from_db()
    assert export.status == ExportStatus.SUCCEEDED
    folder = tmp_path / "var" / "exports" / project.slug
    assert sorted(p.name for p in folder.iterdir()) == [export.archive.split("/")[-1]]
