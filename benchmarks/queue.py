"""Labeling-queue benchmark: next-item + submit over HTTP, gunicorn in front of PostgreSQL.

Per project size (--items) and number of concurrent labelers (--labelers):

* queue: simulated labelers, each its own user with an API token and one keep-alive HTTP
  connection, doing POST /api/projects/{id}/next/ then POST /api/assignments/{aid}/submit/
  for --seconds: closed loop with no pause by default, or an exponential think time
  between items (--think-ms);
* floor, the named baseline: the same labelers, concurrency, duration and pauses, but
  each iteration is two authenticated trivial requests (GET /api/me/ twice): what HTTP,
  Django, DRF and token auth cost on this machine before any queue work.
  ratio = queue iteration / floor iteration, at p50 and at p99.

After every queue run it checks in SQL that no item is leased beyond its overlap, that
the cached counters agree with the rows, and that every submit acknowledged with 201 is
stored exactly once; it EXPLAIN ANALYZEs the claim query as the code sends it, reads
gunicorn's per-request server time from its access log, and splits the CPU time between
the app server, the database backends, the load generator and the rest of the machine.
Data loading and the checks live in benchmarks/queue_db.py.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user root, may CREATE DATABASE):
    .venv/bin/python benchmarks/queue.py --quick          # 10k items, 1/8/32 labelers, ~2 min
    .venv/bin/python benchmarks/queue.py --items 10000,1000000 --labelers 1,8,32 --seconds 20
All traffic goes to 127.0.0.1, and every phase ends by itself.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder is sys.path[0] and this file would shadow the standard
# library's `queue` module (which multiprocessing imports): put the repository root there.
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import psycopg  # noqa: E402

from benchmarks import queue_db as db  # noqa: E402

HOST = "127.0.0.1"
HTTP_TIMEOUT = 30.0
TICK = os.sysconf("SC_CLK_TCK")


def fmt(value: float, digits: int = 1) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


# ----- the app server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving config.wsgi on 127.0.0.1: DEBUG off, a fresh SECRET_KEY,
    ALLOWED_HOSTS=127.0.0.1, persistent DB connections, an access log with the time
    each request spent inside its worker."""

    def __init__(self, *, dbname: str, worker_class: str, workers: int, threads: int):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="palate-bench-"))
        self.access_log = self.dir / "access.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": db.pg_url(dbname),
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DEBUG": "0",
            "ALLOWED_HOSTS": HOST,
            "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback
            "DB_CONN_MAX_AGE": "600",
            "LOG_LEVEL": "ERROR",
            "PALATE_VAR_DIR": str(self.dir / "var"),
        }
        env.pop("REDIS_URL", None)
        command = [
            str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application",
            "--bind", f"{HOST}:{self.port}", "--worker-class", worker_class,
            "--workers", str(workers), "--threads", str(threads), "--keep-alive", "75",
            "--timeout", "60", "--preload", "--log-level", "warning",
            "--error-logfile", str(self.dir / "error.log"),
            "--access-logfile", str(self.access_log),
            "--access-logformat", "%(m)s %(U)s %(s)s %(D)s",  # D: microseconds in the worker
        ]
        self.description = f"gunicorn {worker_class}, {workers} workers x {threads} threads"
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while True:
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/api/me/")
                if conn.getresponse().status in (401, 403):
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"gunicorn did not start; see {self.dir / 'error.log'}")
            time.sleep(0.2)

    def pids(self) -> set[int]:
        """The master and its workers."""
        master = self.process.pid
        return {master} | {pid for pid, (_, ppid, _) in proc_snapshot().items() if ppid == master}

    def log_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def log_since(self, offset: int) -> dict[str, list[float]]:
        """Server-side milliseconds per endpoint, from the access log after ``offset``."""
        times: dict[str, list[float]] = {"next": [], "submit": [], "me": []}
        with self.access_log.open("rb") as log:
            log.seek(offset)
            for line in log.read().decode().splitlines():
                parts = line.split()
                if len(parts) != 4:
                    continue
                path, micros = parts[1], parts[3]
                kind = ("next" if path.endswith("/next/") else "submit" if path.endswith("/submit/")
                        else "me" if path == "/api/me/" else None)
                if kind:
                    times[kind].append(int(micros) / 1000)
        return times

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ----- CPU accounting ------------------------------------------------------------------------


def proc_snapshot() -> dict[int, tuple[str, int, int]]:
    """pid -> (command, parent pid, CPU ticks used) for every process on the machine."""
    snapshot = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        snapshot[int(entry.name)] = (raw[raw.index("(") + 1:raw.rindex(")")], int(fields[1]),
                                     int(fields[11]) + int(fields[12]))
    return snapshot


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks summed over all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)


def wait_for_quiet(*, max_busy_pct: float, max_wait: float) -> float:
    """Other work on this 2-core machine skews every number: wait (a bounded time) until
    the CPUs are mostly idle. Returns the busy share seen last."""
    started = time.monotonic()
    while True:
        before = machine_ticks()
        time.sleep(1.0)
        after = machine_ticks()
        busy = 100 * (after[0] - before[0]) / max(1, after[1] - before[1])
        waited = time.monotonic() - started
        if busy <= max_busy_pct or waited > max_wait:
            if waited > 2:
                print(f"    (waited {waited:.0f} s for other work on the machine; now {busy:.0f} % busy)",
                      flush=True)
            return busy
        time.sleep(2.0)


def cpu_split(before, after, *, app: set[int], dbp: set[int], client: set[int]) -> dict:
    """CPU seconds used during a phase by the app server, its database backends, the load
    generator, and everything else on the machine (other users' work included)."""
    def used(pids):
        return sum(after[0][p][2] - before[0].get(p, ("", 0, 0))[2] for p in pids if p in after[0]) / TICK

    busy = (after[1][0] - before[1][0]) / TICK
    total = (after[1][1] - before[1][1]) / TICK
    split = {"app": used(app), "db": used(dbp), "client": used(client)}
    split["other"] = max(0.0, busy - sum(split.values()))
    split["busy_pct"] = 100 * busy / total if total else math.nan
    return split


# ----- simulated labelers --------------------------------------------------------------------


@dataclass
class LabelerSpec:
    mode: str  # "queue" or "floor"
    port: int
    project_id: int
    user_id: int
    token: str
    seconds: float
    think_ms: float
    seed: int


def _request(conn: http.client.HTTPConnection, method: str, path: str, headers: dict,
             body: bytes | None = None) -> tuple[int, bytes, int]:
    """One request on the keep-alive connection, retried once on a fresh connection if the
    server had closed it. Retrying is safe: next returns the same live lease, and a
    submit carries its idempotency key."""
    for attempt in (0, 1):
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read(), attempt
        except (ConnectionError, http.client.BadStatusLine):
            conn.close()
            if attempt:
                raise
    raise AssertionError("unreachable")


def labeler_main(spec: LabelerSpec, barrier, go, out) -> None:
    """One labeler, in a forked process: warm up, wait for the start, then next + submit
    (or the floor's two GET /api/me/) until the time is up."""
    try:
        rng = random.Random(spec.seed)
        conn = http.client.HTTPConnection(HOST, spec.port, timeout=HTTP_TIMEOUT)
        auth = {"Authorization": f"Token {spec.token}"}
        post = {**auth, "Content-Type": "application/json"}
        for _ in range(3):
            _request(conn, "GET", "/api/me/", auth)
        barrier.wait(timeout=120)
        go.wait(timeout=120)
        cpu0 = time.process_time()
        first, second, pair = [], [], []
        acks, statuses, retries, exhausted = [], Counter(), 0, False
        started = time.perf_counter()
        deadline = started + spec.seconds
        next_path = f"/api/projects/{spec.project_id}/next/"
        if spec.think_ms > 0:
            # Start mid-think, as in a steady state: 32 labelers all clicking at the same
            # instant would be a burst that no real team produces (and it owned the p99).
            time.sleep(rng.expovariate(1 / spec.think_ms) / 1000)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            if spec.mode == "floor":
                s1, _, r1 = _request(conn, "GET", "/api/me/", auth)
                t1 = time.perf_counter()
                s2, _, r2 = _request(conn, "GET", "/api/me/", auth)
                t2 = time.perf_counter()
                statuses[f"me {s1}"] += 1
                statuses[f"me {s2}"] += 1
            else:
                s1, body, r1 = _request(conn, "POST", next_path, post, b"")
                t1 = time.perf_counter()
                statuses[f"next {s1}"] += 1
                if s1 == 204:
                    exhausted = True
                    break
                if s1 != 200:
                    time.sleep(0.01)
                    continue
                lease = json.loads(body)
                key = secrets.token_hex(16)
                payload = json.dumps({"idempotency_key": key, "strength": rng.choice((-2, -1, 1, 2))})
                s2, body, r2 = _request(conn, "POST", f"/api/assignments/{lease['assignment']}/submit/",
                                        post, payload.encode())
                t2 = time.perf_counter()
                statuses[f"submit {s2}"] += 1
                if s2 == 201:
                    acks.append((key, json.loads(body)["id"], lease["assignment"], lease["item"]))
            retries += r1 + r2
            first.append((t1 - t0) * 1000)
            second.append((t2 - t1) * 1000)
            pair.append((t2 - t0) * 1000)
            if spec.think_ms > 0:
                pause = rng.expovariate(1 / spec.think_ms) / 1000
                time.sleep(max(0.0, min(pause, deadline - time.perf_counter())))
        out.put({"user_id": spec.user_id, "first": first, "second": second, "pair": pair,
                 "acks": acks, "statuses": dict(statuses), "retries": retries,
                 "exhausted": exhausted, "elapsed": time.perf_counter() - started,
                 "cpu": time.process_time() - cpu0, "pid": os.getpid()})
    except BaseException:  # noqa: BLE001 - reported to the parent, which must not hang
        barrier.abort()
        out.put({"user_id": spec.user_id, "error": traceback.format_exc(), "pid": os.getpid()})


@dataclass
class Phase:
    mode: str
    labelers: int
    first: list[float] = field(default_factory=list)
    second: list[float] = field(default_factory=list)
    pair: list[float] = field(default_factory=list)
    acks: list[tuple] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    server: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    wall: float = 0.0
    retries: int = 0
    exhausted: int = 0

    @property
    def rate(self) -> float:
        done = len(self.acks) if self.mode == "queue" else len(self.pair)
        return done / self.wall if self.wall else math.nan


def run_phase(*, mode: str, server: Server, bench: dict, tokens: list[tuple[int, str]],
              seconds: float, think_ms: float, seed: int) -> Phase:
    from django.db import connections

    connections.close_all()  # nothing of ours is shared with the forked labelers
    ctx = multiprocessing.get_context("fork")
    barrier, go, out = ctx.Barrier(len(tokens) + 1), ctx.Event(), ctx.Queue()
    processes = [
        ctx.Process(target=labeler_main, daemon=True, args=(
            LabelerSpec(mode=mode, port=server.port, project_id=bench["project_id"], user_id=user_id,
                        token=token, seconds=seconds, think_ms=think_ms, seed=seed * 1000 + i),
            barrier, go, out))
        for i, (user_id, token) in enumerate(tokens)
    ]
    for process in processes:
        process.start()
    phase = Phase(mode=mode, labelers=len(tokens))
    # A labeler that fails during warm-up breaks the barrier; its error is raised below.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=120)
    time.sleep(0.3)  # let the warm-up requests reach the access log
    offset = server.log_offset()
    before = (proc_snapshot(), machine_ticks())
    go.set()
    results = [out.get(timeout=seconds + 4 * HTTP_TIMEOUT) for _ in processes]
    after = (proc_snapshot(), machine_ticks())
    time.sleep(0.3)
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise SystemExit("a labeler failed:\n" + errors[0])
    phase.wall = max(r["elapsed"] for r in results)
    for r in results:
        phase.first += r["first"]
        phase.second += r["second"]
        phase.pair += r["pair"]
        phase.acks += [(r["user_id"], *ack) for ack in r["acks"]]
        phase.statuses.update(r["statuses"])
        phase.retries += r["retries"]
        phase.exhausted += r["exhausted"]
    phase.server = server.log_since(offset)
    with psycopg.connect(db.pg_url(bench["dbname"])) as conn:
        backends = {row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [bench["dbname"]])}
    phase.cpu = cpu_split(before, after, app=server.pids(), dbp=backends,
                          client={r["pid"] for r in results})
    return phase


# ----- report --------------------------------------------------------------------------------


def row_for(bench: dict, queue: Phase, floor: Phase, args) -> dict:
    pct = db.pct
    labels = max(1, len(queue.acks))
    return {
        "items": bench["items"], "labelers": queue.labelers, "think_ms": args.think_ms,
        "synchronous_commit": args.synchronous_commit,
        "labels_per_s": queue.rate, "floor_iterations_per_s": floor.rate,
        "next_p50": pct(queue.first, 50), "next_p99": pct(queue.first, 99),
        "submit_p50": pct(queue.second, 50), "submit_p99": pct(queue.second, 99),
        "pair_p50": pct(queue.pair, 50), "pair_p99": pct(queue.pair, 99),
        "pair_max": max(queue.pair, default=math.nan),
        "floor_p50": pct(floor.pair, 50), "floor_p99": pct(floor.pair, 99),
        "srv_next_p50": pct(queue.server["next"], 50), "srv_next_p99": pct(queue.server["next"], 99),
        "srv_submit_p50": pct(queue.server["submit"], 50),
        "srv_submit_p99": pct(queue.server["submit"], 99),
        "srv_me_p50": pct(floor.server["me"], 50), "srv_me_p99": pct(floor.server["me"], 99),
        "labels": len(queue.acks), "samples": len(queue.pair), "floor_samples": len(floor.pair),
        "statuses": dict(queue.statuses), "floor_statuses": dict(floor.statuses),
        "retries": queue.retries + floor.retries, "exhausted": queue.exhausted,
        "cpu_ms_per_label": {k: 1000 * queue.cpu[k] / labels for k in ("app", "db", "client", "other")},
        "busy_pct": queue.cpu["busy_pct"], "floor_busy_pct": floor.cpu["busy_pct"],
    }


def print_tables(rows: list[dict]) -> None:
    print("\nClient-side latency in ms. A queue iteration is next + submit; a floor iteration is two")
    print("authenticated GET /api/me/ by the same labelers. ratio = queue / floor at that percentile.\n")
    print("| items | labelers | think ms | labels/s | next p50 / p99 | submit p50 / p99 "
          "| next+submit p50 / p99 | floor p50 / p99 | ratio p50 / p99 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['items']:,} | {r['labelers']} | {r['think_ms']:g} | {fmt(r['labels_per_s'])} "
              f"| {fmt(r['next_p50'])} / {fmt(r['next_p99'])} "
              f"| {fmt(r['submit_p50'])} / {fmt(r['submit_p99'])} "
              f"| **{fmt(r['pair_p50'])} / {fmt(r['pair_p99'])}** "
              f"| {fmt(r['floor_p50'])} / {fmt(r['floor_p99'])} "
              f"| {fmt(r['pair_p50'] / r['floor_p50'], 2)} / {fmt(r['pair_p99'] / r['floor_p99'], 2)} |")
    print("\nServer time: inside a gunicorn worker (access log), ms; the client's time minus this is")
    print("waiting for a worker. CPU ms per label over the queue run, from /proc (2 cores give 2000")
    print("CPU ms per second); 'other' is everything else running on the machine.\n")
    print("| items | labelers | srv next p50 / p99 | srv submit p50 / p99 | srv /me p50 / p99 "
          "| CPU busy | CPU ms/label app / db / client / other |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        c = r["cpu_ms_per_label"]
        print(f"| {r['items']:,} | {r['labelers']} | {fmt(r['srv_next_p50'])} / {fmt(r['srv_next_p99'])} "
              f"| {fmt(r['srv_submit_p50'])} / {fmt(r['srv_submit_p99'])} "
              f"| {fmt(r['srv_me_p50'])} / {fmt(r['srv_me_p99'])} | {fmt(r['busy_pct'], 0)} % "
              f"| {fmt(c['app'])} / {fmt(c['db'])} / {fmt(c['client'])} / {fmt(c['other'])} |")


def print_checks(bench: dict, labelers: int, checks: dict) -> bool:
    problems = {k: v for k, v in checks.items() if not k.startswith("_") and v}
    print(f"    checks: {checks['_acks']} acknowledged submits; over-assigned items "
          f"{checks['over_assigned_items']}; acks not stored exactly once "
          f"{checks['acks_not_stored_exactly_once']}; counter mismatches "
          f"{checks['assigned_count_mismatch']}/{checks['submitted_count_mismatch']}/"
          f"{checks['is_open_mismatch']} -> {'OK' if not problems else f'FAILED {problems}'}",
          flush=True)
    return not problems


# ----- main ----------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--items", type=int_list, default=[10_000, 1_000_000],
        help="project sizes, comma-separated (default 10000,1000000)")
    add("--labelers", type=int_list, default=[1, 8, 32],
        help="concurrent labelers, comma-separated (default 1,8,32)")
    add("--seconds", type=float, default=20.0, help="length of each measured phase (default 20)")
    add("--think-ms", type=float, default=0.0,
        help="mean think time between items, exponential (default 0: closed loop, no pause)")
    add("--history", type=float, default=0.25,
        help="share of the items already fully labeled when loading (default 0.25)")
    add("--warmup", type=float, default=3.0, help="unmeasured queue run per size, seconds")
    add("--rebuild", action="store_true", help="drop and reload the bench databases")
    add("--quick", action="store_true",
        help="10,000 items, 1/8/32 labelers, 5 s phases: about two minutes")
    add("--worker-class", default="gthread", choices=["gthread", "sync"])
    add("--workers", type=int, default=4, help="gunicorn workers (default 4 = 2 per core)")
    add("--threads", type=int, default=2, help="threads per gthread worker (default 2)")
    add("--synchronous-commit", default="on", choices=["on", "off"],
        help="PostgreSQL synchronous_commit for the bench database (default on, durable)")
    add("--quiet-below", type=float, default=25.0,
        help="before each phase wait until the machine is at most this %% busy (default 25)")
    add("--quiet-wait", type=float, default=120.0, help="longest such wait, seconds (default 120)")
    add("--solo", type=int, default=1000,
        help="labels by one labeler alone, in-process, after the HTTP runs (default 1000)")
    add("--explain", action="store_true", help="print every claim-query plan")
    add("--json", type=Path, help="also write all results to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.labelers, args.seconds, args.warmup = [10_000], [1, 8, 32], 5.0, 2.0
        args.solo = min(args.solo, 300)
    return args


def bench_one_size(items: int, args, rows: list, notes: dict) -> bool:
    ok = True
    dbname = db.db_name(items)
    print(f"\n== {items:,} items: database {dbname}", flush=True)
    rebuilt = db.db_ensure(dbname, rebuild=args.rebuild)
    db.db_set_synchronous_commit(dbname, args.synchronous_commit)
    db.django_use_database(dbname)
    bench = db.project_ensure(items=items, history=args.history, labelers=max(args.labelers),
                              rebuilt=rebuilt)
    db.queue_reset(bench)
    tokens = db.tokens_make(max(args.labelers))
    server = Server(dbname=dbname, worker_class=args.worker_class, workers=args.workers,
                    threads=args.threads)
    print(f"  {server.description} on {HOST}:{server.port}, synchronous_commit="
          f"{args.synchronous_commit}", flush=True)
    plans = {}
    try:
        if args.warmup > 0:
            run_phase(mode="queue", server=server, bench=bench, tokens=tokens, seconds=args.warmup,
                      think_ms=0, seed=0)
            db.queue_reset(bench)
        for labelers in args.labelers:
            common = {"server": server, "bench": bench, "tokens": tokens[:labelers],
                      "seconds": args.seconds, "think_ms": args.think_ms, "seed": labelers}
            busy = wait_for_quiet(max_busy_pct=args.quiet_below, max_wait=args.quiet_wait)
            floor = run_phase(mode="floor", **common)
            busy = max(busy, wait_for_quiet(max_busy_pct=args.quiet_below, max_wait=args.quiet_wait))
            queue = run_phase(mode="queue", **common)
            checks = db.integrity_check(bench, queue.acks)
            plans[labelers] = db.explain_claim(bench, tokens[0][0])
            row = row_for(bench, queue, floor, args) | {
                "checks": checks, "claim_query_ms": plans[labelers]["ms"], "busy_before_pct": busy}
            rows.append(row)
            print(f"  {labelers:>2} labelers: {row['labels_per_s']:.1f} labels/s; next+submit p50 "
                  f"{row['pair_p50']:.1f} p99 {row['pair_p99']:.1f} ms; floor p50 {row['floor_p50']:.1f} "
                  f"p99 {row['floor_p99']:.1f} ms; claim query {plans[labelers]['ms']:.2f} ms "
                  f"(item_queue_idx: {plans[labelers].get('uses_queue_index')}); {row['statuses']}",
                  flush=True)
            ok &= print_checks(bench, labelers, checks)
            if args.explain:
                print(plans[labelers]["plan"])
            db.queue_reset(bench)
    finally:
        server.stop()
    notes[items] = {"plans": plans}
    if args.solo > 0:
        in_process_report(bench, tokens[0][0], args, notes[items])
    last = plans[max(args.labelers)]
    print(f"\n  claim query plan right after the {max(args.labelers)}-labeler run:\n"
          + "\n".join("    " + line for line in last["plan"].splitlines()), flush=True)
    return ok


def in_process_report(bench: dict, user_id: int, args, notes: dict) -> None:
    wait_for_quiet(max_busy_pct=args.quiet_below, max_wait=args.quiet_wait)
    cost = db.in_process_costs(bench, user_id, count=args.solo)
    db.queue_reset(bench)
    notes["in_process"] = cost
    print(f"  in-process, one labeler alone, no HTTP: first 100 claims p50 {cost['claim_p50']:.2f} "
          f"p99 {cost['claim_p99']:.2f} ms, last 100 p50 {cost['claim_p50_last_100']:.2f} ms; "
          f"claim query after {cost['count']} labels {cost['claim_query_ms_at_end']:.2f} ms; "
          f"submit p50 {cost['submit_p50']:.2f} p99 {cost['submit_p99']:.2f} ms; "
          f"{cost['statements_per_label']:.0f} SQL statements and "
          f"{cost['python_cpu_ms_per_label']:.1f} ms Python CPU per label", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"PostgreSQL on {db.PG_HOST}:{db.PG_PORT}; command: {' '.join(sys.argv)}", flush=True)
    db.django_setup(db.db_name(args.items[0]))
    rows, notes, ok = [], {}, True
    for items in args.items:
        ok &= bench_one_size(items, args, rows, notes)
    print_tables(rows)
    print(f"\nintegrity checks (over-assignment, counters, acknowledged submits stored exactly once): "
          f"{'all zero' if ok else 'FAILED'}")
    for r in rows:
        if r["items"] >= 1_000_000 and r["labelers"] >= 32:
            print(f"target p99(next+submit) < 50 ms at {r['labelers']} labelers, {r['items']:,} items, "
                  f"think {r['think_ms']:g} ms: {r['pair_p99']:.1f} ms -> "
                  f"{'met' if r['pair_p99'] < 50 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": rows, "notes": notes}, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
