"""Platform state read from the database at scrape time.

Every figure is a few grouped counts over indexed columns: open items use the
queue's partial index (open, non-gold), live leases the partial index on
leased assignments, labels of the last minute the (project, created_at) index.
A database that does not answer makes ``palate_database_up`` 0 and leaves the
database-derived families out of that scrape, instead of failing the page.
"""

import logging
from collections.abc import Iterator
from datetime import timedelta

from celery import current_app
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from annotation.models import Annotation, Assignment, ComparisonItem, DatasetExport, DatasetSnapshot, Project
from annotation.models.labels import AssignmentStatus
from generation.models import GenerationJob, JobStatus
from integrations.models import WebhookDelivery, WorkerHeartbeat
from training.loop.models import LoopRound
from training.models import RunStatus, TrainingRun

logger = logging.getLogger(__name__)


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def database_up() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("metrics: the database does not answer", exc_info=True)
        return False


def broker_up(timeout: float = 2.0) -> bool:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        logger.warning("metrics: the broker does not answer", exc_info=True)
        return False


def _projects() -> dict[int, str]:
    return dict(Project.objects.values_list("pk", "slug"))


def _per_project(family: GaugeMetricFamily, slugs: dict[int, str], counts: dict[int, int]) -> None:
    for pk, slug in slugs.items():
        family.add_metric([slug], counts.get(pk, 0))


def _jobs() -> GaugeMetricFamily:
    family = _gauge("palate_jobs", "Durable jobs by job, kind and status.", ["job", "kind", "status"])
    sources = [("training_run", TrainingRun.objects.values("kind", "status")),
               ("generation_job", GenerationJob.objects.values("kind", "status")),
               ("export", DatasetExport.objects.values("format", "status")),
               ("snapshot", DatasetSnapshot.objects.values("status")),
               ("loop_round", LoopRound.objects.values("status")),
               ("webhook_delivery", WebhookDelivery.objects.values("event", "status"))]
    for job, rows in sources:
        for row in rows.annotate(n=Count("pk")).order_by():
            kind = row.get("kind") or row.get("format") or row.get("event") or ""
            family.add_metric([job, kind, row["status"]], row["n"])
    return family


def _database_families() -> Iterator[GaugeMetricFamily]:
    now = timezone.now()
    slugs = _projects()

    labels = _gauge("palate_labels_submitted_last_minute", "Annotations submitted in the last 60 s.",
                    ["project"])
    _per_project(labels, slugs, dict(
        Annotation.objects.filter(project_id__in=list(slugs), created_at__gte=now - timedelta(seconds=60))
        .values_list("project_id").annotate(n=Count("pk")).order_by()))
    yield labels

    open_items = _gauge("palate_open_items", "Non-gold items with a free slot (the queue).", ["project"])
    _per_project(open_items, slugs, dict(
        ComparisonItem.objects.filter(is_open=True, is_gold=False)
        .values_list("project_id").annotate(n=Count("pk")).order_by()))
    yield open_items

    leases = _gauge("palate_live_leases", "Leases held by labelers and not expired.", ["project"])
    _per_project(leases, slugs, dict(
        Assignment.objects.filter(status=AssignmentStatus.LEASED, expires_at__gt=now)
        .values_list("project_id").annotate(n=Count("pk")).order_by()))
    yield leases

    yield _jobs()

    beat = _gauge("palate_worker_last_heartbeat_timestamp_seconds", "When a Celery worker last beat.",
                  ["worker", "queues"])
    age = _gauge("palate_worker_heartbeat_age_seconds", "Seconds since a Celery worker last beat.",
                 ["worker", "queues"])
    for name, queues, beat_at in WorkerHeartbeat.objects.values_list("name", "queues", "beat_at"):
        beat.add_metric([name, queues], beat_at.timestamp())
        age.add_metric([name, queues], max(0.0, (now - beat_at).total_seconds()))
    yield beat
    yield age

    progress = _gauge("palate_training_run_progress_ratio", "Steps done / total of running training runs.",
                      ["project", "run", "kind"])
    steps = _gauge("palate_training_run_step", "Current step of running training runs.",
                   ["project", "run", "kind"])
    for pk, project_id, kind, step, total in TrainingRun.objects.filter(status=RunStatus.RUNNING).values_list(
            "pk", "project_id", "kind", "step", "total_steps"):
        labels_ = [slugs.get(project_id, str(project_id)), str(pk), kind]
        progress.add_metric(labels_, step / total if total else 0.0)
        steps.add_metric(labels_, step)
    yield progress
    yield steps

    speed = _gauge("palate_generation_tokens_per_second",
                   "Tokens generated per second by running generation jobs, since they started.",
                   ["project", "job"])
    for pk, project_id, tokens, started in GenerationJob.objects.filter(
            status=JobStatus.RUNNING, started_at__isnull=False).values_list(
            "pk", "project_id", "tokens_generated", "started_at"):
        elapsed = (now - started).total_seconds()
        speed.add_metric([slugs.get(project_id, str(project_id)), str(pk)],
                         tokens / elapsed if elapsed > 0 else 0.0)
    yield speed
    tokens = _gauge("palate_generation_tokens", "Tokens generated by all of a project's jobs.", ["project"])
    _per_project(tokens, slugs, {row["project_id"]: row["total"] or 0 for row in GenerationJob.objects
                                 .values("project_id").annotate(total=Sum("tokens_generated")).order_by()})
    yield tokens


class PlatformCollector(Collector):
    """Registered on the registry the /metrics view builds for each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = database_up()
        family = _gauge("palate_database_up", "1 if the database answered SELECT 1.", [])
        family.add_metric([], 1 if up else 0)
        yield family
        family = _gauge("palate_broker_up", "1 if the Celery broker accepted a connection.", [])
        family.add_metric([], 1 if broker_up() else 0)
        yield family
        if up:
            try:
                yield from _database_families()
            except Exception:
                logger.warning("metrics: database figures left out of this scrape", exc_info=True)
