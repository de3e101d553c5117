"""What a Celery worker exports: task outcomes and durations (into the
multiprocess directory, from whichever process runs the task: the solo
worker itself or a prefork child) and a heartbeat row.

A child's files are marked dead when it exits, so its live gauges vanish and
its counters stay summed, as prometheus-client's multiprocess mode expects.
"""

import logging
import os
import threading
import time

from celery import signals
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from prometheus_client import multiprocess

from integrations.metrics.heartbeats import worker_heartbeat_beat, worker_heartbeat_remove
from integrations.metrics.instruments import TASK_LATENCY, TASKS

logger = logging.getLogger(__name__)
_started: dict[str, float] = {}
_stop = threading.Event()


@signals.task_prerun.connect(dispatch_uid="palate-metrics-task-prerun")
def _task_prerun(task_id=None, **kwargs):
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect(dispatch_uid="palate-metrics-task-postrun")
def _task_postrun(task_id=None, task=None, state=None, **kwargs):
    started = _started.pop(task_id, None)
    name = getattr(task, "name", "unknown")
    TASKS.labels(task=name, state=state or "UNKNOWN").inc()
    if started is not None:
        TASK_LATENCY.labels(task=name).observe(time.perf_counter() - started)


@signals.worker_process_shutdown.connect(dispatch_uid="palate-metrics-child-exit")
def _child_exit(pid=None, **kwargs):
    multiprocess.mark_process_dead(pid or os.getpid())


def _beat_forever(name: str, queues: list[str]) -> None:
    started_at = timezone.now()
    interval = max(1, settings.PALATE_WORKER_HEARTBEAT_SECONDS)
    while not _stop.is_set():
        try:
            close_old_connections()
            worker_heartbeat_beat(name=name, queues=queues, started_at=started_at)
        except Exception:  # a database outage must not kill the worker's thread
            logger.warning("worker heartbeat not written", exc_info=True)
        finally:
            connection.close()  # this thread's own connection; reopened next beat
        _stop.wait(interval)


@signals.worker_ready.connect(dispatch_uid="palate-metrics-heartbeat-start")
def _worker_ready(sender=None, **kwargs):
    name = getattr(sender, "hostname", None) or f"worker@{os.getpid()}"
    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values()) \
        if sender is not None and sender.app.amqp.queues.consume_from else []
    _stop.clear()
    threading.Thread(target=_beat_forever, args=(name, queues), daemon=True,
                     name="palate-heartbeat").start()


@signals.worker_shutdown.connect(dispatch_uid="palate-metrics-heartbeat-stop")
def _worker_shutdown(sender=None, **kwargs):
    _stop.set()
    try:
        worker_heartbeat_remove(name=getattr(sender, "hostname", None) or f"worker@{os.getpid()}")
    except Exception:
        logger.warning("worker heartbeat not removed", exc_info=True)
