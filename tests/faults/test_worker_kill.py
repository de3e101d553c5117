"""kill -9 of a real Celery worker in the middle of a training run, a generation job
and a dataset export (Redis broker, PostgreSQL, --pool solo workers).

Each test holds the task at a gate (tests/faults/gated_worker.py) or a blocked
backend, kills the worker with SIGKILL, runs the watchdog that production runs on
beat, starts a fresh worker and checks that the work finished exactly once: one
checkpoint lineage and one registered model, one set of generated items, one
export archive. A late duplicate of the task is then delivered and must change
nothing. Needs PostgreSQL and Redis (CI=true fails without them).
"""

import io
import json
import threading
import time
import zipfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from annotation.models import ComparisonItem, DatasetExport, ExportStatus, Response
from annotation.services.exports import dataset_export_request, dataset_exports_requeue_stale
from annotation.tasks import dataset_export_run_task
from generation.models import (
    BackendName,
    GenerationJob,
    GenerationJobPrompt,
    JobStatus,
    ModelRole,
    ModelSpec,
)
from generation.services.jobs import PROMPTS_PER_CHUNK, generation_job_create, generation_jobs_requeue_stale
from generation.services.registry import model_spec_register
from generation.tasks import generation_job_run_task
from tests.factories import project_make, prompts_make, user_make
from tests.faults.conftest import deliver_duplicate, kill9, wait_for_file
from tests.generation.fake_openai import FakeOpenAI
from tests.integration.conftest import wait_for
from tests.training.factories import FAST, backbone_make, snapshot_make
from training.checkpoints import checkpoints_list
from training.models import RunStatus, TrainingMetric, TrainingRun
from training.services.runs import training_run_create, training_runs_requeue_stale
from training.tasks import training_run_task

pytestmark = pytest.mark.integration

TASK_TIMEOUT = 240.0  # a worker imports torch and transformers on its first training task


def test_a_training_run_killed_after_a_checkpoint_finishes_once_on_a_new_worker(
        gated_workers, fault_producer, tiny_model_dir, training_dir):
    admin = user_make("fault_train_admin")
    project = project_make(creator=admin)
    backbone_make(tiny_model_dir)
    run = training_run_create(project=project, snapshot=snapshot_make(project), base_model="tiny-bert",
                              hyperparameters=FAST)  # sent to the broker on commit
    env = {"PALATE_TRAINING_HEARTBEAT_SECONDS": "0"}
    first = gated_workers(gated=True, env=env)
    wait_for_file(gated_workers.gates / "training.reached", worker=first, timeout=TASK_TIMEOUT)
    run.refresh_from_db()
    assert (run.status, run.attempt, run.step) == (RunStatus.RUNNING, 1, 4)
    checkpoints = run.artifacts_dir + "/checkpoints"
    assert [p.name for p in checkpoints_list(Path(checkpoints))] == ["step-00000003"]

    kill9(first)
    time.sleep(0.05)
    # What beat's watchdog does once the heartbeat is stale (its threshold shortened).
    assert training_runs_requeue_stale(stale_after=timedelta(milliseconds=1))["requeued"] == 1
    second = gated_workers(gated=False, env=env)
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status not in (RunStatus.QUEUED, RunStatus.RUNNING),
             worker=second, timeout=TASK_TIMEOUT, what="the requeued run finished")

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempt == 2 and run.step == FAST["max_steps"]
    # One lineage: the resumed attempt continued from step 3 and wrote step 6 after it.
    assert [p.name for p in checkpoints_list(Path(checkpoints))] == ["step-00000003", "step-00000006"]
    steps = list(TrainingMetric.objects.filter(run=run, split="train").order_by("step")
                 .values_list("step", flat=True))
    assert steps == [2, 4, 6]
    assert run.output_model is not None and run.is_active
    assert ModelSpec.objects.filter(role=ModelRole.REWARD, produced_by_run__isnull=False).count() == 1

    deliver_duplicate(second, training_run_task, "training.tasks.training_run_task", run.pk)
    after = TrainingRun.objects.get(pk=run.pk)
    assert (after.status, after.attempt, after.output_model_id, after.finished_at) == (
        run.status, run.attempt, run.output_model_id, run.finished_at)


class GatedFake(FakeOpenAI):
    """A vLLM-compatible server that answers the first chunk of prompts and holds
    every later request until ``release`` is set."""

    def __init__(self, held_prompts: set[str]):
        super().__init__()
        self.held_prompts = held_prompts
        self.release = threading.Event()
        self.held = 0

    def _answer(self, path, payload):
        messages = payload.get("messages") or []
        if path.endswith("/chat/completions") and messages and messages[-1]["content"] in self.held_prompts:
            with self._lock:
                self.held += 1
            self.release.wait(timeout=120)
        return super()._answer(path, payload)


def test_a_generation_job_killed_mid_way_finishes_once_on_a_new_worker(gated_workers, fault_producer):
    admin = user_make("fault_gen_admin")
    project = project_make(creator=admin)
    prompts = prompts_make(project, PROMPTS_PER_CHUNK + 4)
    second_chunk = {p.messages[-1]["content"] for p in prompts[PROMPTS_PER_CHUNK:]}
    with GatedFake(second_chunk) as fake:
        fake.models = ["fault-policy"]
        model_spec_register(name="fault-policy", role=ModelRole.POLICY, backend=BackendName.VLLM_SERVER,
                            endpoint_url=fake.url)
        job = generation_job_create(project=project, model_names=["fault-policy"], n=2,
                                    sampling={"temperature": 1.0, "max_tokens": 4})
        first = gated_workers(gated=False)
        wait_for(lambda: fake.held > 0, worker=first, timeout=TASK_TIMEOUT,
                 what="the second chunk's requests at the server")
        job.refresh_from_db()
        assert (job.status, job.attempt, job.progress_done) == (JobStatus.RUNNING, 1, PROMPTS_PER_CHUNK)

        kill9(first)
        fake.release.set()
        time.sleep(0.05)
        assert generation_jobs_requeue_stale(stale_after=timedelta(milliseconds=1)) == 1
        second = gated_workers(gated=False)
        wait_for(lambda: GenerationJob.objects.get(pk=job.pk).status not in (JobStatus.QUEUED,
                                                                            JobStatus.RUNNING),
                 worker=second, timeout=TASK_TIMEOUT, what="the requeued job finished")

        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert job.attempt == 2 and job.progress_done == len(prompts)
        done = Counter(GenerationJobPrompt.objects.filter(job=job).values_list("prompt_id", flat=True))
        assert done == Counter({p.pk: 1 for p in prompts})
        items = ComparisonItem.objects.filter(project=project)
        per_prompt = Counter(items.values_list("prompt_id", flat=True))
        assert per_prompt == Counter({p.pk: 1 for p in prompts})  # n=2 samples: one pair each
        assert job.items_created == len(prompts)
        responses = Response.objects.filter(metadata__job=job.pk).count()
        assert responses == 2 * len(prompts) == job.responses_created
        asked = Counter(r["json"]["messages"][-1]["content"] for r in fake.requests
                        if r["path"].endswith("/chat/completions"))
        # The first chunk was generated once; only the unfinished chunk was asked again.
        assert all(asked[p.messages[-1]["content"]] == 1 for p in prompts[:PROMPTS_PER_CHUNK])

        deliver_duplicate(second, generation_job_run_task, "generation.tasks.generation_job_run_task", job.pk)
        assert ComparisonItem.objects.filter(project=project).count() == len(prompts)
        assert GenerationJob.objects.get(pk=job.pk).attempt == 2


def test_an_export_killed_before_publishing_finishes_once_on_a_new_worker(
        gated_workers, fault_producer, tmp_path):
    admin = user_make("fault_export_admin")
    project = project_make(creator=admin)
    snapshot = snapshot_make(project)
    export = dataset_export_request(snapshot=snapshot, fmt="trl")  # sent to the broker on commit
    first = gated_workers(gated=True)
    wait_for_file(gated_workers.gates / "export.reached", worker=first, timeout=TASK_TIMEOUT)
    export.refresh_from_db()
    assert export.status == ExportStatus.RUNNING
    folder = tmp_path / "var" / "exports" / project.slug
    assert [p.name for p in folder.iterdir() if p.name.startswith(".work-")]  # written, not published

    kill9(first)
    time.sleep(0.05)
    assert dataset_exports_requeue_stale(stale_after=timedelta(milliseconds=1)) == 1
    second = gated_workers(gated=False)
    wait_for(lambda: DatasetExport.objects.get(pk=export.pk).status not in (ExportStatus.QUEUED,
                                                                          ExportStatus.RUNNING),
             worker=second, timeout=TASK_TIMEOUT, what="the requeued export finished")

    export.refresh_from_db()
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert sorted(p.name for p in folder.iterdir()) == [export.archive.split("/")[-1]]  # one file
    archive = zipfile.ZipFile(io.BytesIO((tmp_path / "var" / "exports" / export.archive).read_bytes()))
    manifest = json.loads(archive.read(next(n for n in archive.namelist() if n.endswith("manifest.json"))))
    assert manifest["content_hash"] == snapshot.content_hash and manifest["rows"] == snapshot.counts

    deliver_duplicate(second, dataset_export_run_task, "annotation.tasks.dataset_export_run_task", export.pk)
    after = DatasetExport.objects.get(pk=export.pk)
    assert (after.started_at, after.archive, after.size_bytes) == (
        export.started_at, export.archive, export.size_bytes)
    assert sorted(p.name for p in folder.iterdir()) == [export.archive.split("/")[-1]]
