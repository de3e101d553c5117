"""A training run end to end through a real Celery worker on Redis:
trigger from the API, the worker trains, the model is registered, the
metrics are visible. Needs PostgreSQL and Redis (CI=true fails without them).
"""

import time
import uuid

import pytest
import redis

from generation.models import ModelRole, ModelSpec
from tests.conftest import client_for
from tests.factories import member_add, project_make, user_make
from tests.integration.conftest import (  # noqa: F401 - fixtures shared with tests/integration
    celery_worker,
    postgres_db,
    producer_app,
    redis_url,
)
from tests.training.factories import FAST, backbone_make, snapshot_make
from training.models import TrainingRun

pytestmark = pytest.mark.integration

RUN_TIMEOUT = 180.0  # the worker imports torch and transformers on its first task


def test_a_run_triggered_from_the_api_trains_on_a_real_worker(
        redis_url, celery_worker, producer_app, tiny_model_dir, tmp_path, settings):  # noqa: F811
    from annotation.models import Role

    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    admin, engineer = user_make("it_train_admin"), user_make("it_train_engineer")
    project = project_make(creator=admin)
    member_add(project, engineer, Role.ENGINEER)
    backbone_make(tiny_model_dir)
    snapshot = snapshot_make(project)

    # A queue of our own: parallel test runs on one Redis never take each other's runs.
    queue = f"palate-it-gpu-{uuid.uuid4().hex}"
    worker = celery_worker(env={"CELERY_BROKER_URL": redis_url, "PALATE_TRAINING_HEARTBEAT_SECONDS": "0"},
                           queue=queue)
    app = producer_app(broker_url=redis_url, queue=queue)
    app.conf.task_routes = {"training.tasks.training_run_task": {"queue": queue}}
    api = client_for(engineer)
    try:
        response = api.post(f"/api/projects/{project.pk}/training-runs/", {
            "snapshot_id": snapshot.pk, "base_model": "tiny-bert", "hyperparameters": FAST}, format="json")
        assert response.status_code == 201, response.json()
        run_id = response.json()["id"]
        deadline = time.monotonic() + RUN_TIMEOUT
        while TrainingRun.objects.get(pk=run_id).status in ("queued", "running"):
            if time.monotonic() > deadline or worker.process.poll() is not None:
                pytest.fail(f"run {run_id} did not finish; worker log:\n{worker.log()}")
            time.sleep(0.5)
    finally:
        client = redis.Redis.from_url(redis_url)
        client.delete(queue, f"_kombu.binding.{queue}")
        client.close()

    detail = api.get(f"/api/projects/{project.pk}/training-runs/{run_id}/").json()
    assert detail["status"] == "succeeded", (detail["error"], worker.log())
    assert detail["worker_id"].startswith("palate-it-") and detail["attempt"] == 1
    assert detail["device"] == "cpu float32" and detail["progress"] == 1.0
    assert [p["step"] for p in detail["metrics"]["train"]] == [2, 4, 6]
    assert detail["metrics"]["eval"][0]["accuracy"] == detail["results"]["accuracy"]
    spec = ModelSpec.objects.get(name=detail["output_model"])
    assert spec.role == ModelRole.REWARD and spec.metadata["snapshot_hash"] == snapshot.content_hash
    assert detail["is_active"]
    assert "training.tasks.training_run_task" in worker.log()
