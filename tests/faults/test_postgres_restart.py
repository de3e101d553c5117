"""PostgreSQL stopped and started again while labelers submit through gunicorn.

Production settings (persistent connections with health checks), a real gunicorn,
labelers as threads with their own keep-alive HTTP connections, each retrying a
request that failed (5xx or a broken connection) with the same idempotency key,
as the browser and any script should. While the database is down the API must
answer a clean 503, never 500; afterwards every acknowledged annotation is in the
database exactly once, nothing unacknowledged was stored, no item is over its
overlap, and labeling goes on without restarting anything but the database.
Needs root and Debian's pg_ctlcluster (CI=true fails without them).
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.db.models import Count, Q

from annotation.models import Annotation, Assignment, AssignmentStatus, ComparisonItem, Role
from annotation.services.tokens import token_create
from tests.factories import items_make, member_add, project_make, user_make
from tests.faults.outages import postgres_down
from tests.integration.conftest import database_url

pytestmark = pytest.mark.integration

LABELERS = 4
OVERLAP = 2
OUTAGE_S = 2.0
RETRY_FOR_S = 60.0  # a client gives up on one request only after this long


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(postgres_db, tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PALATE_VAR_DIR")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url(postgres_db),
                "SECRET_KEY": "fault-test-secret-key", "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "0", "DB_CONN_MAX_AGE": "600", "LOG_LEVEL": "WARNING",
                "PALATE_VAR_DIR": str(tmp_path / "var")})
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "2", "--threads", "4",
         "--timeout", "60"], cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/me/")
            if conn.getresponse().status in (401, 403):
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"gunicorn did not start: {(tmp_path / 'gunicorn.log').read_text()}")
        time.sleep(0.2)
    yield port, tmp_path / "gunicorn.log"
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


class Labeler(threading.Thread):
    """next → submit until the queue is empty or ``stop`` is set; every failed request
    is retried (a fresh connection, the same body and idempotency key)."""

    def __init__(self, port: int, project_id: int, user_id: int, token: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.project_id, self.user_id = port, project_id, user_id
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.stop = stop
        self.acks: list[tuple[int, str, int, float]] = []  # (labeler, key, annotation id, when)
        self.statuses: Counter = Counter()
        self.error: BaseException | None = None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)

    def call(self, path: str, body: dict | None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else b""
        give_up = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                self.conn.request("POST", path, body=payload, headers=self.headers)
                response = self.conn.getresponse()
                status, data = response.status, response.read()
                self.statuses[status] += 1
                if status < 500:
                    return status, data
            except (OSError, http.client.HTTPException):
                self.statuses["connection error"] += 1
                self.conn.close()
            if time.monotonic() > give_up:
                raise AssertionError(f"{path} kept failing for {RETRY_FOR_S:.0f}s: {dict(self.statuses)}")
            time.sleep(0.1)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                status, data = self.call(f"/api/projects/{self.project_id}/next/", None)
                if status == 204:
                    return
                assert status == 200, (status, data)
                lease = json.loads(data)
                key = uuid.uuid4().hex
                status, data = self.call(f"/api/assignments/{lease['assignment']}/submit/",
                                         {"idempotency_key": key, "strength": 1})
                assert status in (200, 201), (status, data)
                self.acks.append((self.user_id, key, json.loads(data)["id"], time.monotonic()))
                time.sleep(0.01)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error


def test_labelers_ride_out_a_postgres_restart_with_nothing_lost_or_duplicated(gunicorn):
    port, log = gunicorn
    admin = user_make("fault_pg_admin")
    project = project_make(creator=admin, overlap=OVERLAP, lease_seconds=600)
    items_make(project, 400)
    stop = threading.Event()
    labelers = []
    for number in range(LABELERS):
        user = user_make(f"fault_pg_labeler{number}")
        member_add(project, user, Role.LABELER)
        labelers.append(Labeler(port, project.pk, user.pk, token_create(user=user)[1], stop))
    connections.close_all()  # the outage breaks this process's connection too
    for labeler in labelers:
        labeler.start()
    try:
        deadline = time.monotonic() + 60
        while min(len(labeler.acks) for labeler in labelers) < 5:
            assert time.monotonic() < deadline and all(labeler.is_alive() for labeler in labelers), \
                [(labeler.error, dict(labeler.statuses)) for labeler in labelers]
            time.sleep(0.05)
        with postgres_down():
            down_at = time.monotonic()
            time.sleep(OUTAGE_S)  # labelers keep sending meanwhile
        up_at = time.monotonic()
        deadline = time.monotonic() + 60
        while min(sum(ack[3] > up_at for ack in labeler.acks) for labeler in labelers) < 5:
            assert time.monotonic() < deadline and all(labeler.is_alive() for labeler in labelers), \
                [(labeler.error, dict(labeler.statuses)) for labeler in labelers]
            time.sleep(0.05)
    finally:
        stop.set()
        for labeler in labelers:
            labeler.join(timeout=RETRY_FOR_S + 10)
        connections.close_all()

    statuses = sum((labeler.statuses for labeler in labelers), Counter())
    assert not [labeler.error for labeler in labelers if labeler.error], statuses
    # While it was down the API said "retry" cleanly; never a 500.
    assert statuses[503] > 0, (statuses, down_at)
    other_5xx = [s for s in statuses if isinstance(s, int) and s >= 500 and s != 503]
    assert not other_5xx, (statuses, log.read_text()[-3000:])
    acks = [ack for labeler in labelers for ack in labeler.acks]
    stored = {(labeler_id, key): pk for pk, labeler_id, key in Annotation.objects.filter(
        item__project=project).values_list("pk", "labeler_id", "idempotency_key")}
    # Every acknowledged submit exactly once (the key is unique per labeler), with the id the client got ...
    assert len({(a[0], a[1]) for a in acks}) == len(acks)
    assert {(a[0], a[1]): a[2] for a in acks} == stored
    # ... and no item beyond its overlap.
    live = Q(assignments__status__in=[AssignmentStatus.LEASED, AssignmentStatus.SUBMITTED])
    over = (ComparisonItem.objects.filter(project=project)
            .annotate(live=Count("assignments", filter=live)).filter(live__gt=OVERLAP))
    assert not over.exists()
    assert Assignment.objects.filter(project=project, status=AssignmentStatus.SUBMITTED).count() == len(acks)
