"""The Grafana dashboard and the alert rules in docs/monitoring parse and name
only metrics that /metrics exports."""

import json
import re

import pytest
import yaml
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

DOCS = settings.BASE_DIR / "docs" / "monitoring"
NAME = re.compile(r"\bpalate_[a-z_]+")


def exported_names(client) -> set[str]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    names = set()
    for family in text_string_to_metric_families(answer.content.decode()):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def expressions() -> list[str]:
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert {"PalateWorkerStale", "PalateQueueEmptyWhileLabelersOnline", "PalateJobFailureRate"} <= {
        rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return exprs


@pytest.mark.django_db
def test_dashboard_and_alerts_use_exported_metrics(client, settings, project, items, labeler):
    settings.PALATE_METRICS_ALLOW = ["127.0.0.1"]
    from annotation.services.queue import item_claim_next
    from integrations.metrics.heartbeats import worker_heartbeat_beat
    from integrations.metrics.instruments import TASK_LATENCY, TASKS

    # Make every family appear at least once: a request, a task, a heartbeat, a lease.
    item_claim_next(project=project, labeler=labeler)
    worker_heartbeat_beat(name="celery@docs", queues=["celery"], started_at=project.created_at)
    TASKS.labels(task="docs", state="SUCCESS").inc()
    TASK_LATENCY.labels(task="docs").observe(0.1)
    client.get("/healthz")
    names = exported_names(client)
    used = {name for expr in expressions() for name in NAME.findall(expr)}
    # Families that only appear while a run or job is running: declared by the collector.
    declared = set(NAME.findall((settings.BASE_DIR / "integrations/metrics/collector.py").read_text()))
    missing = sorted(n for n in used if n not in names and n not in declared)
    assert missing == []
