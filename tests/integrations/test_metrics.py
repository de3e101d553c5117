"""/metrics: the Prometheus text format parsed back, its protection, and the
figures it reports against the rows that produce them."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from annotation.services.datasets import dataset_snapshot_build
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from generation.models import GenerationJob, JobStatus
from integrations.metrics.heartbeats import worker_heartbeat_beat
from integrations.models import WorkerHeartbeat
from tests.training.factories import backbone_make, snapshot_make
from training.models import RunStatus, TrainingRun


def scrape(client, **headers) -> dict[str, list]:
    answer = client.get("/metrics", **headers)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain; version=")
    families = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        families[family.name] = family.samples
    return families


def value(families, name, **labels) -> float:
    matches = [s.value for s in families[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (name, labels, families.get(name))
    return matches[0]


@pytest.fixture
def loopback_reads_metrics(settings):
    settings.PALATE_METRICS_ALLOW = ["127.0.0.1"]
    settings.PALATE_METRICS_TOKEN = ""


@pytest.mark.django_db
def test_metrics_are_refused_without_a_token_or_an_allowed_address(client, settings):
    settings.PALATE_METRICS_ALLOW = []
    settings.PALATE_METRICS_TOKEN = "scrape-token-0123456789"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    # X-Forwarded-For is the client's to write: never read.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789").status_code == 200
    settings.PALATE_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    settings.PALATE_METRICS_ALLOW = ["10.0.0.0/8", "127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200
    assert client.post("/metrics").status_code == 405


@pytest.mark.django_db
def test_request_latency_and_status_by_route(client, api, labeler, project, items, loopback_reads_metrics):
    before = scrape(client)
    route = "api/projects/<int:project_id>/next/"
    labels = {"route": route, "method": "POST", "status": "200"}

    def count(families) -> float:
        samples = [s for s in families.get("palate_http_request_duration_seconds", [])
                   if s.name.endswith("_count") and all(s.labels.get(k) == v for k, v in labels.items())]
        return sum(s.value for s in samples)

    for _ in range(2):
        assert api(labeler).post(f"/api/projects/{project.pk}/next/").status_code == 200
    after = scrape(client)
    assert count(after) - count(before) == 2
    routes = {s.labels["route"] for s in after["palate_http_request_duration_seconds"]}
    assert f"api/projects/{project.pk}/next/" not in routes  # patterns, never raw paths (one series per id)


@pytest.mark.django_db
def test_queue_labels_jobs_and_reachability(client, project, items, labeler, labeler2,
                                            loopback_reads_metrics):
    lease = item_claim_next(project=project, labeler=labeler)
    item_claim_next(project=project, labeler=labeler2)
    annotation_submit(assignment=lease, data={"strength": 1}, idempotency_key=new_idempotency_key())
    dataset_snapshot_build(project=project)
    families = scrape(client)
    assert value(families, "palate_database_up") == 1
    assert value(families, "palate_broker_up") == 1
    # overlap 2: the two leased/labeled item still has no free slot; the other two are open.
    assert value(families, "palate_open_items", project=project.slug) == 2
    assert value(families, "palate_live_leases", project=project.slug) == 1
    assert value(families, "palate_labels_submitted_last_minute", project=project.slug) == 1
    assert value(families, "palate_jobs", job="snapshot", status="ready") == 1


@pytest.mark.django_db
def test_heartbeats_training_progress_and_generation_speed(client, project, loopback_reads_metrics):
    now = timezone.now()
    worker_heartbeat_beat(name="celery@gpu-1", queues=["gpu"], started_at=now,
                          now=now - timedelta(seconds=90))
    snapshot = snapshot_make(project)
    backbone = backbone_make(django_settings.BASE_DIR)
    run = TrainingRun.objects.create(project=project, snapshot=snapshot, base_model=backbone,
                                     status=RunStatus.RUNNING, step=30, total_steps=120)
    GenerationJob.objects.create(project=project, status=JobStatus.RUNNING, tokens_generated=5000,
                                 started_at=now - timedelta(seconds=50))
    families = scrape(client)
    age = value(families, "palate_worker_heartbeat_age_seconds", worker="celery@gpu-1", queues="gpu")
    assert 89 <= age < 120
    assert value(families, "palate_training_run_progress_ratio", run=str(run.pk), kind="reward") == 0.25
    speed = value(families, "palate_generation_tokens_per_second", project=project.slug)
    assert 80 < speed <= 100
    assert value(families, "palate_generation_tokens", project=project.slug) == 5000
    assert value(families, "palate_jobs", job="training_run", kind="reward", status="running") == 1
    WorkerHeartbeat.objects.all().delete()


@pytest.mark.django_db
def test_instruments_of_other_processes_are_summed(client, loopback_reads_metrics):
    """A second process (as a Celery prefork child or a gunicorn worker would)
    records into the same multiprocess directory; one scrape sees both."""
    code = ("from integrations.metrics.instruments import TASKS\n"
            "TASKS.labels(task='tests.other_process', state='SUCCESS').inc(3)\n")
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], check=True, cwd=django_settings.BASE_DIR,  # noqa: S603
                       env={"PROMETHEUS_MULTIPROC_DIR": str(django_settings.PALATE_METRICS_DIR),
                            "PATH": "/usr/bin:/bin"})
    families = scrape(client)
    assert value(families, "palate_celery_tasks", task="tests.other_process", state="SUCCESS") == 6
