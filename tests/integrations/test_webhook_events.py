"""Each project event is emitted by the service where it happens, with its
data, and only when it happens."""

import pytest

from annotation.services.consensus import item_consensus_recompute
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.exports import dataset_export_request, dataset_export_run
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from generation.models import ModelRole, ModelSpec
from integrations.models import WebhookDelivery
from integrations.webhooks.services import webhook_subscription_create
from tests.factories import items_make
from tests.training.factories import FAST, backbone_make, snapshot_make
from training.loop import services as loop
from training.loop.models import LoopSetting, RoundStatus
from training.models import RunStatus
from training.services.runs import training_run_create, training_run_execute
from training.synthetic import tiny_backbone


@pytest.fixture
def subscribed(project, admin, loopback_allowed):
    from annotation.events import EVENTS

    webhook_subscription_create(project=project, url="http://127.0.0.1:9/hook", events=list(EVENTS),
                                created_by=admin)
    return project


def events(name: str) -> list[dict]:
    return [d.payload["data"] for d in WebhookDelivery.objects.filter(event=name).order_by("pk")]


def label(project, labeler, strength):
    assignment = item_claim_next(project=project, labeler=labeler)
    annotation_submit(assignment=assignment, data={"strength": strength},
                      idempotency_key=new_idempotency_key())


@pytest.mark.django_db
def test_snapshot_built_and_export_ready(subscribed, items, labeler, labeler2, settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    label(subscribed, labeler, -2)
    label(subscribed, labeler2, -1)
    snapshot = dataset_snapshot_build(project=subscribed)
    [built] = events("snapshot.built")
    assert built["snapshot_id"] == snapshot.pk and built["version"] == snapshot.version
    assert built["content_hash"] == snapshot.content_hash and built["counts"] == snapshot.counts
    export = dataset_export_run(export_id=dataset_export_request(snapshot=snapshot, fmt="trl").pk)
    [ready] = events("export.ready")
    assert ready["export_id"] == export.pk and ready["size_bytes"] == export.size_bytes > 0
    assert ready["download_path"] == f"/api/projects/{subscribed.pk}/exports/{export.pk}/download/"


@pytest.mark.django_db
def test_item_needs_adjudication_once_when_labels_disagree(subscribed, items, labeler, labeler2):
    label(subscribed, labeler, -2)
    label(subscribed, labeler2, 2)
    item_consensus_recompute(project=subscribed, method="majority")
    [flagged] = events("item.needs_adjudication")
    assert flagged["item_id"] == items[0].pk and flagged["n_labels"] == 2 and flagged["method"] == "majority"
    item_consensus_recompute(project=subscribed, method="majority")
    assert len(events("item.needs_adjudication")) == 1  # still flagged: not announced again


@pytest.mark.django_db
def test_queue_empty_when_no_open_item_is_left(subscribed, labeler, labeler2):
    items_make(subscribed, 1)  # overlap 2: both labelers take it
    label(subscribed, labeler, 1)
    assert item_claim_next(project=subscribed, labeler=labeler) is None
    assert events("project.queue_empty") == []  # this labeler is done, but labeler2's slot is open
    label(subscribed, labeler2, 1)
    assert item_claim_next(project=subscribed, labeler=labeler2) is None
    assert len(events("project.queue_empty")) == 1


@pytest.mark.django_db
def test_training_run_finished_with_metrics_or_error(subscribed, settings, tmp_path):
    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    backbone = backbone_make(tiny_backbone(tmp_path / "tiny"))
    run = training_run_create(project=subscribed, snapshot=snapshot_make(subscribed), hyperparameters=FAST,
                              base_model=backbone.name, enqueue=False)
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED
    [done] = events("training_run.finished")
    assert done["status"] == "succeeded" and done["kind"] == "reward" and done["run_id"] == run.pk
    assert done["metrics"]["accuracy"] == run.results["accuracy"] and done["output_model"]

    ModelSpec.objects.filter(pk=backbone.pk).update(path="/does/not/exist")
    failed = training_run_execute(run_id=training_run_create(
        project=subscribed, snapshot=snapshot_make(subscribed, seed=3), hyperparameters=FAST,
        base_model=backbone.name, enqueue=False).pk)
    assert failed.status == RunStatus.FAILED
    last = events("training_run.finished")[-1]
    assert last["status"] == "failed" and last["error"] == failed.error and last["run_id"] == failed.pk


@pytest.mark.django_db
def test_loop_round_finished_when_it_fails(subscribed, tmp_path):
    policy = ModelSpec.objects.create(name="tiny-policy", role=ModelRole.POLICY, path=str(tmp_path))
    LoopSetting.objects.create(project=subscribed, base_policy=policy)
    rnd = loop.loop_round_advance(round_id=loop.loop_round_start(project=subscribed, enqueue=False).pk)
    assert rnd.status == RoundStatus.FAILED  # no labels: the snapshot has no training pairs
    [finished] = events("loop_round.finished")
    assert finished["round_id"] == rnd.pk and finished["status"] == "failed"
    assert "no training pairs" in finished["error"] and finished["snapshot_id"] == rnd.snapshot_id
    assert len(events("snapshot.built")) == 1
