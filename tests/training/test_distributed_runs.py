"""Resources of a training run through the API, the page and the worker's service:
a ddp run trains in 2 torchrun ranks and lands in the row like a local one, a
rank's death fails the attempt and a resume finishes it, and the memory planner
refuses what will not fit before anything is created."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.training.factories import FAST, snapshot_make
from training.models import RunStatus, TrainingMetric, TrainingRun
from training.services.runs import training_run_create, training_run_execute, training_run_resume

URL = "/api/projects/{}/training-runs/"
DDP2 = {"strategy": "ddp", "processes_per_node": 2}


@pytest.fixture
def snapshot(project):
    return snapshot_make(project, train=32, test=8)


def body(snapshot, resources, **hyper):
    return {"kind": "reward", "snapshot_id": snapshot.pk, "base_model": "tiny-bert",
            "hyperparameters": {**FAST, **hyper}, "resources": resources}


def test_the_api_takes_a_runs_resources_and_shows_them(api, project, engineer, backbone, training_dir,
                                                       snapshot):
    response = api(engineer).post(URL.format(project.pk), body(snapshot, DDP2), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["resources"] | DDP2 == response.json()["resources"]
    assert TrainingRun.objects.get().resources["processes_per_node"] == 2


@pytest.mark.parametrize(("resources", "field"), [
    ({"strategy": "zero"}, "resources.strategy"),
    ({"strategy": "single", "processes_per_node": 2}, "resources.strategy"),
    ({"processes_per_node": 0}, "resources.processes_per_node"),
    ({"strategy": "ddp", "nodes": 2}, "resources.master_addr"),
    ({"gpus": 8}, "resources.gpus"),
])
def test_bad_resources_are_refused_by_field_and_nothing_is_created(
        api, project, engineer, backbone, training_dir, snapshot, resources, field):
    response = api(engineer).post(URL.format(project.pk), body(snapshot, resources), format="json")
    assert response.status_code == 400 and response.json()["field"] == field, response.json()
    assert not TrainingRun.objects.exists()


def test_the_memory_planner_refuses_a_run_that_will_not_fit_with_the_numbers(
        api, project, engineer, backbone, training_dir, snapshot):
    # The tiny BERT with a long sequence budget against 0.5 GB: the flat 1 GB
    # overhead alone does not fit, and the message says how much it needs.
    response = api(engineer).post(URL.format(project.pk), body(snapshot, {"gpu_memory_gb": 0.5}),
                                  format="json")
    assert response.status_code == 400
    data = response.json()
    assert data["field"] == "resources.gpu_memory_gb"
    assert "per GPU but 0.5 GB are available" in str(data) and "weights" in str(data)
    assert not TrainingRun.objects.exists()
    ok = api(engineer).post(URL.format(project.pk), body(snapshot, {"gpu_memory_gb": 80}), format="json")
    assert ok.status_code == 201, ok.json()


def test_a_ddp_run_trains_in_two_ranks_and_lands_in_its_row(project, backbone, training_dir, snapshot):
    run = training_run_create(project=project, snapshot=snapshot, base_model="tiny-bert",
                              hyperparameters={**FAST, "batch_size": 4}, resources=DDP2, enqueue=False)
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert "x 2 processes" in run.device and run.step == run.total_steps == FAST["max_steps"]
    assert run.is_active and run.output_model is not None and "accuracy" in run.results
    steps = sorted(TrainingMetric.objects.filter(run=run, split="train").values_list("step", flat=True))
    assert steps == [2, 4, 6]


def kill_rank_one_after_a_checkpoint(artifacts: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        pid_file = artifacts / "launch" / "rank-1.pid"
        if pid_file.is_file() and list((artifacts / "checkpoints").glob("step-*")):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            return
        time.sleep(0.05)


def test_a_dead_rank_fails_the_attempt_and_resume_finishes_from_the_checkpoint(
        project, backbone, training_dir, snapshot, django_capture_on_commit_callbacks):
    run = training_run_create(project=project, snapshot=snapshot, base_model="tiny-bert",
                              hyperparameters={**FAST, "batch_size": 2, "max_steps": 40,
                                               "checkpoint_every_steps": 2},
                              resources=DDP2, enqueue=False)
    stop = threading.Event()
    killer = threading.Thread(target=kill_rank_one_after_a_checkpoint, args=(Path(run.artifacts_dir), stop))
    killer.start()
    try:
        run = training_run_execute(run_id=run.pk)
    finally:
        stop.set()
        killer.join()
    assert run.status == RunStatus.FAILED and "distributed run failed (2 processes" in run.error
    assert run.step < 40
    with django_capture_on_commit_callbacks():  # the resume's task: run it here instead
        training_run_resume(run=run)
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempt == 2 and run.step == 40
