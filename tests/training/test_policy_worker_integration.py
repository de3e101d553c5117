"""A dpo run end to end through a real Celery worker on Redis: trigger from the
API, the worker trains, the policy is registered with merged weights, the
metrics are visible. Needs PostgreSQL and Redis (CI=true fails without them)."""

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
from tests.training.factories import snapshot_make
from training.models import TrainingRun
from training.policy.synthetic import tiny_policy

pytestmark = pytest.mark.integration

RUN_TIMEOUT = 240.0  # the worker imports torch, transformers and peft on its first task


def test_a_dpo_run_triggered_from_the_api_trains_on_a_real_worker(
        redis_url, celery_worker, producer_app, tmp_path, settings):  # noqa: F811
    from annotation.models import Role

    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    admin, engineer = user_make("it_dpo_admin"), user_make("it_dpo_engineer")
    project = project_make(creator=admin)
    member_add(project, engineer, Role.ENGINEER)
    ModelSpec.objects.create(name="tiny-policy-it", role=ModelRole.POLICY,
                             path=str(tiny_policy(tmp_path / "policy")), source="tests")
    snapshot = snapshot_make(project, train=16, test=8)

    queue = f"palate-it-gpu-{uuid.uuid4().hex}"
    worker = celery_worker(env={"CELERY_BROKER_URL": redis_url, "PALATE_TRAINING_HEARTBEAT_SECONDS": "0"},
                           queue=queue)
    app = producer_app(broker_url=redis_url, queue=queue)
    app.conf.task_routes = {"training.tasks.training_run_task": {"queue": queue}}
    api = client_for(engineer)
    try:
        response = api.post(f"/api/projects/{project.pk}/training-runs/", {
            "kind": "dpo", "snapshot_id": snapshot.pk, "base_model": "tiny-policy-it",
            "hyperparameters": {"max_steps": 4, "batch_size": 4, "learning_rate": 1e-2, "logging_steps": 2,
                                "device": "cpu", "max_length": 64, "lora": True, "lora_r": 4}},
            format="json")
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
    assert detail["kind"] == "dpo" and detail["attempt"] == 1 and detail["progress"] == 1.0
    assert [p["step"] for p in detail["metrics"]["train"]] == [2, 4]
    first = detail["metrics"]["train"][0]
    assert {"accuracy", "margin", "chosen_reward", "likelihood_displacement"} <= set(first)
    assert detail["metrics"]["eval"][0]["accuracy"] == detail["results"]["accuracy"]
    spec = ModelSpec.objects.get(name=detail["output_model"])
    assert spec.role == ModelRole.POLICY and spec.metadata["lora_merged"] is True
    assert not detail["is_active"]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(spec.path)  # merged weights: a plain causal LM
