"""The redelivery sweep (config/redelivery.py), the export watchdog and its fencing,
and the clean 503 while the database is unreachable — in-process (eager Celery).
The same paths against real services are in the other tests of this folder."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.utils import timezone

from annotation.datasets import writers
from annotation.models import DatasetExport, DatasetSnapshot, ExportStatus
from annotation.services import exports as export_services
from annotation.services.datasets import dataset_snapshot_build, dataset_snapshot_create
from annotation.services.exports import dataset_export_run, dataset_exports_requeue_stale
from config import redelivery
from config.redelivery import requeue_forgotten
from core.jobs.registry import job_kinds
from generation.models import GenerationJob, JobStatus
from tests.annotation.test_datasets import label_all
from tests.training.factories import FAST, snapshot_make
from training.models import RunStatus, TrainingRun


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the sweep's "sent recently" keys must not leak between tests
    yield
    cache.clear()


@pytest.fixture
def snapshot(project, items, labeler, labeler2, django_capture_on_commit_callbacks) -> DatasetSnapshot:
    label_all(project, [labeler, labeler2], lambda user, lease: {"strength": -2})
    with django_capture_on_commit_callbacks(execute=True):
        return dataset_snapshot_build(project=project, filters={})


def age(model, pk: int, minutes: float) -> None:
    model.objects.filter(pk=pk).update(created_at=timezone.now() - timedelta(minutes=minutes))


@pytest.fixture
def sent(monkeypatch) -> dict[str, list[int]]:
    """Record what the sweep sends instead of running it."""
    calls: dict[str, list[int]] = {kind.name: [] for kind in job_kinds() if kind.redeliver}
    monkeypatch.setattr(redelivery, "job_send", lambda kind, pk: calls[kind.name].append(pk))
    return calls


def test_the_sweep_resends_only_rows_queued_past_the_threshold_once_per_threshold(
        project, snapshot, backbone, engineer, sent):
    from training.services.runs import training_run_create

    runs = [training_run_create(project=project, snapshot=snapshot_make(project), base_model="tiny-bert",
                                hyperparameters=FAST, enqueue=False) for _ in range(3)]
    old_run, fresh_run, running_run = runs
    age(TrainingRun, old_run.pk, 30)
    age(TrainingRun, running_run.pk, 30)
    TrainingRun.objects.filter(pk=running_run.pk).update(status=RunStatus.RUNNING)
    job_old = GenerationJob.objects.create(project=project)
    job_done = GenerationJob.objects.create(project=project, status=JobStatus.SUCCEEDED)
    for job in (job_old, job_done):
        age(GenerationJob, job.pk, 30)
    export_old = DatasetExport.objects.create(snapshot=snapshot, format="trl")
    export_fresh = DatasetExport.objects.create(snapshot=snapshot, format="raw")
    age(DatasetExport, export_old.pk, 30)
    building = dataset_snapshot_create(project=project)  # its fill task never ran
    age(DatasetSnapshot, building.pk, 30)
    age(DatasetSnapshot, snapshot.pk, 30)  # ready: nothing to send

    counts = requeue_forgotten(after=timedelta(minutes=10))

    assert sent == {"training_runs": [old_run.pk], "generation_jobs": [job_old.pk],
                    "exports": [export_old.pk], "snapshots": [building.pk], "uploads": []}
    assert counts == {"training_runs": 1, "generation_jobs": 1, "exports": 1, "snapshots": 1,
                      "uploads": 0}
    assert fresh_run.pk not in sent["training_runs"] and export_fresh.pk not in sent["exports"]
    # Within the threshold the same rows are not sent again ...
    assert requeue_forgotten(after=timedelta(minutes=10)) == {
        "training_runs": 0, "generation_jobs": 0, "exports": 0, "snapshots": 0, "uploads": 0}
    # ... and once it has passed (the keys expired) they are.
    cache.clear()
    assert requeue_forgotten(after=timedelta(minutes=10))["exports"] == 1


def test_a_forgotten_export_is_redelivered_and_runs_once(snapshot, django_capture_on_commit_callbacks):
    # Created without its task (as if the broker had lost the message).
    export = DatasetExport.objects.create(snapshot=snapshot, format="trl")
    age(DatasetExport, export.pk, 30)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_forgotten(after=timedelta(minutes=10))["exports"] == 1
    export.refresh_from_db()
    assert export.status == ExportStatus.SUCCEEDED and export.archive
    # A late duplicate of the original message finds nothing to claim.
    assert dataset_export_run(export_id=export.pk) is None


def test_a_forgotten_snapshot_build_is_redelivered_and_built_once(
        project, items, labeler, labeler2, django_capture_on_commit_callbacks):
    label_all(project, [labeler, labeler2], lambda user, lease: {"strength": -2})
    snapshot = dataset_snapshot_create(project=project)  # as if its fill task was lost
    # Not aged: a snapshot covers the labels made before its created_at.
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_forgotten(after=timedelta(0))["snapshots"] == 1
    snapshot.refresh_from_db()
    assert snapshot.status == "ready" and sum(snapshot.counts.values()) == len(items)
    built = snapshot.content_hash
    from annotation.services.datasets import dataset_snapshot_fill

    assert dataset_snapshot_fill(snapshot=snapshot).content_hash == built  # a duplicate does nothing


def test_the_watchdog_requeues_a_stuck_export_and_leaves_a_live_one(
        snapshot, django_capture_on_commit_callbacks):
    stuck = DatasetExport.objects.create(snapshot=snapshot, format="trl", status=ExportStatus.RUNNING,
                                         started_at=timezone.now() - timedelta(hours=2))
    live = DatasetExport.objects.create(snapshot=snapshot, format="raw", status=ExportStatus.RUNNING,
                                        started_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert dataset_exports_requeue_stale(stale_after=timedelta(hours=1)) == 1
    stuck.refresh_from_db()
    live.refresh_from_db()
    assert stuck.status == ExportStatus.SUCCEEDED and stuck.archive
    assert live.status == ExportStatus.RUNNING


def test_a_superseded_export_attempt_publishes_nothing(snapshot, monkeypatch, settings,
                                                       django_capture_on_commit_callbacks):
    """Attempt A is slow; the watchdog requeues it and attempt B finishes first. When A
    is done writing it must not replace B's archive nor finish the row again."""
    export = DatasetExport.objects.create(snapshot=snapshot, format="trl")
    real_write = writers.export_write
    outcome = {}

    def slow_first_attempt(**kwargs):
        monkeypatch.setattr(export_services, "export_write", real_write)
        with django_capture_on_commit_callbacks(execute=True):
            assert dataset_exports_requeue_stale(stale_after=timedelta(0)) == 1  # runs B, eager
        outcome["b"] = DatasetExport.objects.get(pk=export.pk)
        return real_write(**kwargs)

    monkeypatch.setattr(export_services, "export_write", slow_first_attempt)
    assert dataset_export_run(export_id=export.pk) is None  # attempt A lost its claim
    export.refresh_from_db()
    b = outcome["b"]
    assert b.status == ExportStatus.SUCCEEDED
    assert (export.status, export.archive, export.started_at, export.size_bytes) == (
        ExportStatus.SUCCEEDED, b.archive, b.started_at, b.size_bytes)
    folder = settings.EXPORTS_DIR / snapshot.project.slug
    assert [p.name for p in folder.iterdir()] == [b.archive.split("/")[-1]]  # one file, no work dirs
    assert (settings.EXPORTS_DIR / b.archive).stat().st_size == b.size_bytes


def test_the_sweep_and_the_export_watchdog_are_scheduled_and_registered(settings):
    from config.celery import app

    app.loader.import_default_modules()
    for entry in ("requeue-forgotten-jobs", "requeue-stale-exports", "requeue-stale-training-runs",
                  "requeue-stale-generation-jobs", "requeue-stale-uploads"):
        assert settings.CELERY_BEAT_SCHEDULE[entry]["task"] in app.tasks, entry


def test_the_api_answers_503_while_the_database_is_unreachable(project, items, labeler, api, monkeypatch):
    def down(**kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr("annotation.api.views_labeling.item_claim_next", down)
    response = api(labeler).post(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable" and response["Retry-After"] == "2"


def test_a_page_answers_503_while_the_database_is_unreachable(client, labeler, monkeypatch):
    from django.contrib.auth.models import User

    client.force_login(labeler)

    def down(*args, **kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(User, "get_session_auth_hash", down)  # the first database-backed step
    response = client.get("/")
    assert response.status_code == 503 and response["Retry-After"] == "2"
