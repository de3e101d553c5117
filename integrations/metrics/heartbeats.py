"""Worker heartbeats in the database, where /metrics reads them."""

import os
import socket
from datetime import datetime

from django.utils import timezone

from integrations.models import WorkerHeartbeat


def worker_heartbeat_beat(*, name: str, queues: list[str], started_at: datetime,
                          now: datetime | None = None) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(name=name, defaults={
        "hostname": socket.gethostname()[:200], "pid": os.getpid(), "queues": ",".join(queues)[:500],
        "started_at": started_at, "beat_at": now or timezone.now()})
    return heartbeat


def worker_heartbeat_remove(*, name: str) -> None:
    WorkerHeartbeat.objects.filter(name=name).delete()
