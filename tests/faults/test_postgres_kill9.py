"""PostgreSQL killed with SIGKILL under 200 labelers, on a throw-away cluster.

The server and every backend die at once (kill -9 of the postmaster's process
group, as an OOM kill of the host would) while 200 labelers submit through
gunicorn; the server is started again and runs crash recovery. Every
acknowledged annotation must be stored exactly once with the id the client got,
nothing unacknowledged may count, and no item may be handed out beyond its
overlap.

The cluster is this test's own (initdb and pg_ctl on a free port under a
temporary folder, run as the postgres user), so the machine's shared server is
never touched. Needs root (to act as postgres) and PostgreSQL's binaries.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from config.env import env_bool
from tests.faults.test_postgres_restart import Labeler

pytestmark = pytest.mark.integration

LABELERS = 200
OVERLAP = 2
ITEMS = 1500


def _unavailable(reason: str) -> None:
    if env_bool("CI", False):
        pytest.fail(f"{reason} (CI=true)")
    pytest.skip(reason)


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if os.geteuid() != 0 or not versions or not shutil.which("runuser"):
        _unavailable("a throw-away PostgreSQL cluster needs root, runuser and PostgreSQL's binaries")
    return versions[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv],  # noqa: S603, S607
                          check=True, capture_output=True, text=True, **kwargs)


class Cluster:
    def __init__(self, root: Path):
        self.bin = _pg_bin()
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        shutil.chown(root, "postgres", "postgres")
        root.parent.chmod(0o755)
        as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "root",
                    "--no-sync")

    def start(self, *, retry_for: float = 0.0) -> None:
        """Start the server. After a kill -9 the killed backends can hold the old
        shared memory for a moment, and the postmaster refuses to start while
        they do: ``retry_for`` seconds of retries cover that (crash recovery
        itself runs inside the successful start)."""
        deadline = time.monotonic() + retry_for
        while True:
            try:
                as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                            "-t", "120", "-o", f"-p {self.port} -k {self.data} "
                            "-c listen_addresses=127.0.0.1 -c max_connections=100", "start")
                return
            except subprocess.CalledProcessError as error:
                if time.monotonic() > deadline:
                    log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
                    pytest.fail(f"pg_ctl start failed: {error.stderr}\n{error.stdout}\nserver log:\n{log}")
                time.sleep(0.5)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill9(self) -> None:
        """SIGKILL the postmaster and all its backends (pg_ctl gave it its own
        session, so its process group is the whole server)."""
        pid = self.postmaster_pid()
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid):
            assert time.monotonic() < deadline, "postmaster survived SIGKILL"
            time.sleep(0.05)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "palate") -> str:
        return f"postgres://root@127.0.0.1:{self.port}/{database}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by init) is dead for our purposes.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


SEED = """
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from annotation.models import Role
from annotation.services.tokens import token_create
from tests.factories import items_make, member_add, project_make

User = get_user_model()
admin = User.objects.create(username="kill9_admin")
project = project_make(creator=admin, overlap=int(sys.argv[1]), lease_seconds=600)
items_make(project, int(sys.argv[2]))
labelers = []
for number in range(int(sys.argv[3])):
    user = User.objects.create(username=f"kill9_labeler{number}")
    member_add(project, user, Role.LABELER)
    labelers.append([user.pk, token_create(user=user)[1]])
print(json.dumps({"project": project.pk, "labelers": labelers}))
"""


def _env(cluster: Cluster, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PALATE_VAR_DIR")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": cluster.url(),
                "SECRET_KEY": "fault-test-secret-key", "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "0", "DB_CONN_MAX_AGE": "600", "LOG_LEVEL": "WARNING",
                "PALATE_VAR_DIR": str(tmp_path / "var")})
    return env


def _sql(cluster: Cluster, query: str, params: tuple) -> list[tuple]:
    import psycopg

    with psycopg.connect(cluster.url(), connect_timeout=10) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture
def cluster():
    # Not under pytest's tmp_path: its parents are private to root, and the
    # server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="palate-pg-kill9-"))
    cluster = Cluster(root / "pg")
    cluster.start()
    try:
        as_postgres(str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "root",
                    "palate")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def served(cluster, tmp_path):
    env = _env(cluster, tmp_path)
    run = {"cwd": settings.BASE_DIR, "env": env, "capture_output": True, "text": True, "check": True,
           "timeout": 600}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], **run)  # noqa: S603
    subprocess.run([sys.executable, "manage.py", "createcachetable"], **run)  # noqa: S603
    seeded = json.loads(subprocess.run([sys.executable, "-c", SEED, str(OVERLAP), str(ITEMS),  # noqa: S603
                                        str(LABELERS)], **run).stdout)
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "2", "--threads", "8",
         "--timeout", "60"], cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _port_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start: {(tmp_path / 'gunicorn.log').read_text()}")
            time.sleep(0.2)
        yield port, seeded, tmp_path / "gunicorn.log"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _port_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def test_200_labelers_ride_out_a_kill_9_of_postgres_with_nothing_lost_or_over_assigned(cluster, served):
    port, seeded, log = served
    stop = threading.Event()
    labelers = [Labeler(port, seeded["project"], user_id, token, stop)
                for user_id, token in seeded["labelers"]]
    for labeler in labelers:
        labeler.start()
    try:
        deadline = time.monotonic() + 300
        while sum(bool(labeler.acks) for labeler in labelers) < LABELERS // 2:
            assert time.monotonic() < deadline and all(labeler.is_alive() or labeler.error is None
                                                       for labeler in labelers), \
                [(labeler.error, dict(labeler.statuses)) for labeler in labelers if labeler.error][:5]
            time.sleep(0.1)
        before = sum(len(labeler.acks) for labeler in labelers)
        cluster.kill9()
        time.sleep(1.0)  # labelers keep sending meanwhile
        cluster.start(retry_for=60)  # crash recovery
        up_at = time.monotonic()
        deadline = time.monotonic() + 300
        while sum(ack[3] > up_at for labeler in labelers for ack in labeler.acks) < LABELERS:
            assert time.monotonic() < deadline, [dict(labeler.statuses) for labeler in labelers][:5]
            assert not [labeler.error for labeler in labelers if labeler.error], \
                [labeler.error for labeler in labelers if labeler.error][:5]
            time.sleep(0.1)
    finally:
        stop.set()
        for labeler in labelers:
            labeler.join(timeout=90)

    statuses = sum((labeler.statuses for labeler in labelers), Counter())
    assert not [labeler.error for labeler in labelers if labeler.error], statuses
    assert before > 0
    assert statuses[503] + statuses["connection error"] > 0, statuses  # the outage was seen
    other_5xx = [s for s in statuses if isinstance(s, int) and s >= 500 and s != 503]
    assert not other_5xx, (statuses, log.read_text()[-3000:])
    acks = [ack for labeler in labelers for ack in labeler.acks]
    project_id = int(seeded["project"])
    stored = {(labeler_id, key): pk for pk, labeler_id, key in _sql(
        cluster, "SELECT id, labeler_id, idempotency_key FROM annotation_annotation WHERE project_id = %s",
        (project_id,))}
    # Acknowledged = stored: every acknowledged submit once, with the id the client got,
    # and nothing stored that no client was told about.
    assert len({(a[0], a[1]) for a in acks}) == len(acks)
    assert {(a[0], a[1]): a[2] for a in acks} == stored
    over = _sql(cluster, "SELECT item_id FROM annotation_assignment WHERE project_id = %s "
                         "AND status IN ('leased', 'submitted') GROUP BY item_id HAVING count(*) > %s",
                (project_id, OVERLAP))
    assert over == []
    submitted = _sql(cluster, "SELECT count(*) FROM annotation_assignment "
                              "WHERE project_id = %s AND status = 'submitted'", (project_id,))
    assert submitted[0][0] == len(acks)
