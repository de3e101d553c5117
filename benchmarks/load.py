"""Load: 200 simulated labelers (locust) against gunicorn + PostgreSQL on loopback.

One run, in a benchmark database of its own (created here, dropped at the end):

* floor, the named baseline: the same labelers, think time and duration, each
  iteration two authenticated GET /api/me/ — what HTTP, Django, DRF and token
  auth cost at this concurrency before any queue work;
* queue: each labeler, logged in with its own API token, loops
  POST /api/projects/{id}/next/ → POST /api/assignments/{id}/submit/, with an
  exponential think time (--think-ms) or none at all (--stress). A request that
  fails with a 5xx or a broken connection is retried with the same body, so a
  submit keeps its idempotency key (benchmarks/locustfile.py).

It reports, per endpoint, requests, error rate (failed attempts / attempts) and
p50/p99 latency (locust's, client side), labels per second, the CPU split between
app server, database, load generator and the rest of the machine, and the ratios
queue / floor. Then it checks in SQL (benchmarks/queue_db.py) that no item holds
more live + submitted leases than its overlap, that the cached counters agree
with the rows, and that every submit the clients saw acknowledged is stored
exactly once — and nothing that was never acknowledged.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user root may CREATE DATABASE):
    .venv/bin/python benchmarks/load.py                    # 200 labelers, 60 s, think 10 s
    .venv/bin/python benchmarks/load.py --stress           # 200 labelers, 60 s, no think time
    .venv/bin/python benchmarks/load.py --labelers 20 --seconds 10   # a quick look
All traffic goes to 127.0.0.1, and each phase ends by itself after --seconds.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As a script this folder is sys.path[0], where benchmarks/queue.py would shadow the
# standard library's `queue` (which subprocess and locust's imports need).
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

import psycopg  # noqa: E402

from benchmarks import queue_db as db  # noqa: E402
from benchmarks.queue import HOST, Server, cpu_split, fmt, machine_ticks, proc_snapshot, wait_for_quiet  # noqa: E402

DB_NAME = f"{db.DB_PREFIX}load"
LOCUST = str(Path(sys.executable).with_name("locust"))
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"
ENDPOINTS = {"queue": ("next", "submit"), "floor": ("me",)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--labelers", type=int, default=200, help="simulated labelers (default 200)")
    add("--seconds", type=float, default=60.0, help="length of each phase (default 60)")
    # Reading a prompt and two answers takes a person 10-60 s; 10 s is a fast labeler.
    add("--think-ms", type=float, default=10_000.0,
        help="mean think time between items, exponential (default 10000)")
    add("--stress", action="store_true", help="no think time at all: every labeler in a closed loop")
    add("--items", type=int, default=20_000, help="items in the project (default 20000, overlap 3)")
    add("--spawn-rate", type=float, default=100.0, help="labelers started per second (default 100)")
    add("--worker-class", default="gthread", choices=["gthread", "sync"])
    add("--workers", type=int, default=4, help="gunicorn workers (default 4 = 2 per core)")
    add("--threads", type=int, default=2, help="threads per gthread worker (default 2)")
    add("--quiet-below", type=float, default=30.0,
        help="before each phase wait until the machine is at most this %% busy (default 30)")
    add("--quiet-wait", type=float, default=30.0, help="longest such wait, seconds (default 30)")
    add("--keep-db", action="store_true", help=f"keep the database {DB_NAME} afterwards")
    add("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.stress:
        args.think_ms = 0.0
    if args.labelers < 1 or args.seconds <= 0 or args.think_ms < 0:
        parser.error("--labelers must be at least 1, --seconds positive, --think-ms not negative")
    return args


# ----- one phase: locust as a subprocess ---------------------------------------------------


def read_stats(prefix: Path) -> dict[str, dict]:
    """locust's <prefix>_stats.csv: name -> requests, failures, p50, p99 (ms)."""
    stats = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            number = {key: float(row[key]) if row.get(key, "") not in ("", "N/A") else math.nan
                      for key in ("50%", "99%", "100%")}
            stats[row["Name"]] = {"requests": int(row["Request Count"]),
                                  "failures": int(row["Failure Count"]),
                                  "p50": number["50%"], "p99": number["99%"], "max": number["100%"]}
    return stats


def run_phase(*, mode: str, server: Server, bench: dict, tokens_file: Path, args, work: Path) -> dict:
    from django.db import connections

    connections.close_all()
    acks_file = work / f"acks-{mode}.jsonl"
    env = {**os.environ, "PALATE_LOAD_TOKENS": str(tokens_file),
           "PALATE_LOAD_PROJECT": str(bench["project_id"]), "PALATE_LOAD_MODE": mode,
           "PALATE_LOAD_THINK_MS": str(args.think_ms),
           "PALATE_LOAD_ACKS": str(acks_file)}
    command = [LOCUST, "-f", str(LOCUSTFILE), "--headless", "--users", str(args.labelers),
               "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.seconds:g}s",
               "--host", f"http://{HOST}:{server.port}", "--csv", str(work / mode), "--only-summary",
               "--stop-timeout", "70", "--loglevel", "ERROR", "--exit-code-on-error", "0"]
    busy_before = wait_for_quiet(max_busy_pct=args.quiet_below, max_wait=args.quiet_wait)
    before = (proc_snapshot(), machine_ticks())
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    locust = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(work / f"locust-{mode}.log", "wb"))  # noqa: SIM115
    try:
        # Generous: the run, the stop timeout (retries in flight), and start-up.
        code = locust.wait(timeout=args.seconds + 180)
    except subprocess.TimeoutExpired:
        locust.kill()
        raise SystemExit(f"locust did not stop; see {work}") from None
    wall = time.perf_counter() - started
    after = (proc_snapshot(), machine_ticks())
    # locust has exited, so /proc no longer has it: its CPU is in our children's usage.
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (children_after.ru_utime + children_after.ru_stime
                  - children_before.ru_utime - children_before.ru_stime)
    if code != 0:
        raise SystemExit(f"locust exited with {code}: {(work / f'locust-{mode}.log').read_text()[-3000:]}")
    with psycopg.connect(db.pg_url(bench["dbname"])) as conn:
        backends = {row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [bench["dbname"]])}
    acks = []
    if acks_file.exists():
        acks = [tuple(json.loads(line)) for line in acks_file.read_text().splitlines() if line.strip()]
    statuses_file = Path(f"{acks_file}.statuses.json")
    client = json.loads(statuses_file.read_text()) if statuses_file.exists() else {}
    statuses = Counter(client.get("statuses", {}))
    abandoned = {tuple(pair) for pair in client.get("abandoned", [])}
    cpu = cpu_split(before, after, app=server.pids(), dbp=backends, client=set())
    cpu["client"] = client_cpu
    cpu["other"] = max(0.0, cpu["other"] - client_cpu)
    return {"mode": mode, "stats": read_stats(work / mode), "acks": acks, "statuses": statuses,
            "abandoned": abandoned,
            "wall": wall, "busy_before_pct": busy_before, "cpu": cpu}


def unacknowledged_explained(bench: dict, acks: list, abandoned: set) -> dict:
    """Annotations stored but never acknowledged are legitimate only for submits that
    were still unanswered when the run stopped (the client gave up, the server may have
    committed): every other one would be a write no client asked for."""
    with psycopg.connect(db.pg_url(bench["dbname"])) as conn:
        stored = {tuple(row) for row in conn.execute(
            "SELECT n.labeler_id, n.idempotency_key FROM annotation_annotation n JOIN auth_user u"
            " ON u.id = n.labeler_id WHERE n.project_id = %s AND u.username LIKE %s",
            [bench["project_id"], f"{db.LABELER_PREFIX}%"])}
    extra = stored - {(a[0], a[1]) for a in acks}
    return {"stored_unacknowledged": len(extra), "abandoned_submits": len(abandoned),
            "unexplained": len(extra - abandoned)}


# ----- report --------------------------------------------------------------------------------


def error_rate(stats: dict, names) -> float:
    requests = sum(stats[n]["requests"] for n in names if n in stats)
    failures = sum(stats[n]["failures"] for n in names if n in stats)
    return 100 * failures / requests if requests else math.nan


def report(args, queue: dict, floor: dict, checks: dict, server: Server) -> dict:
    qs, fs = queue["stats"], floor["stats"]
    me = fs.get("me", {"p50": math.nan, "p99": math.nan, "requests": 0})
    labels = len(queue["acks"])
    labels_per_s = labels / args.seconds
    floor_iterations_per_s = me["requests"] / 2 / args.seconds
    print(f"\n{args.labelers} labelers, {args.seconds:g} s per phase, think time "
          f"{'none (stress)' if args.think_ms == 0 else f'{args.think_ms:g} ms mean'}; "
          f"{server.description}; {args.items:,} items, overlap {db.OVERLAP}\n")
    print("| phase | endpoint | requests | errors % | p50 ms | p99 ms | max ms | p50 / floor | p99 / floor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("next", "submit"):
        s = qs.get(name)
        if s:
            errors = 100 * s["failures"] / max(1, s["requests"])
            print(f"| queue | {name} | {s['requests']:,} | {fmt(errors, 2)} "
                  f"| {fmt(s['p50'], 0)} | {fmt(s['p99'], 0)} | {fmt(s['max'], 0)} "
                  f"| {fmt(s['p50'] / me['p50'], 2)} | {fmt(s['p99'] / me['p99'], 2)} |")
    print(f"| floor | GET /api/me/ | {me['requests']:,} | {fmt(error_rate(fs, ['me']), 2)} "
          f"| {fmt(me['p50'], 0)} | {fmt(me['p99'], 0)} | {fmt(me.get('max', math.nan), 0)} | 1.00 | 1.00 |")
    print(f"\nlabels/s {labels_per_s:.1f} ({labels:,} acknowledged submits); floor iterations/s "
          f"{floor_iterations_per_s:.1f}; ratio labels/s ÷ floor iterations/s "
          f"{labels_per_s / floor_iterations_per_s if floor_iterations_per_s else math.nan:.2f}")
    print(f"error rate (failed attempts, all retried): queue {fmt(error_rate(qs, ['next', 'submit']), 3)} %, "
          f"floor {fmt(error_rate(fs, ['me']), 3)} %")
    print(f"statuses: queue {dict(sorted(queue['statuses'].items()))}; "
          f"floor {dict(sorted(floor['statuses'].items()))}")
    for phase in (floor, queue):
        c = phase["cpu"]
        print(f"CPU during {phase['mode']}: {fmt(c['busy_pct'], 0)} % busy; seconds app {c['app']:.1f}, "
              f"db {c['db']:.1f}, load generator {c['client']:.1f}, other {c['other']:.1f} "
              f"(machine {fmt(phase['busy_before_pct'], 0)} % busy just before)")
    # Stored-but-unacknowledged is judged against the abandoned submits below.
    problems = {k: v for k, v in checks.items()
                if not k.startswith("_") and k != "annotations_never_acknowledged" and v}
    if checks["_unacknowledged"]["unexplained"]:
        problems["stored_without_any_submit"] = checks["_unacknowledged"]["unexplained"]
    print(f"\nchecks: {checks['_acks']:,} acknowledged submits; over-assigned items "
          f"{checks['over_assigned_items']}; acks not stored exactly once "
          f"{checks['acks_not_stored_exactly_once']}; stored but never acknowledged "
          f"{checks['annotations_never_acknowledged']} (submits abandoned unanswered when the run stopped: "
          f"{checks['_unacknowledged']['abandoned_submits']}, stored without one: "
          f"{checks['_unacknowledged']['unexplained']}); counter mismatches "
          f"{checks['assigned_count_mismatch']}/"
          f"{checks['submitted_count_mismatch']}/{checks['is_open_mismatch']} -> "
          f"{'OK' if not problems else f'FAILED {problems}'}")
    return {"labelers": args.labelers, "seconds": args.seconds, "think_ms": args.think_ms,
            "labels": labels, "labels_per_s": labels_per_s, "floor_iterations_per_s": floor_iterations_per_s,
            "queue": qs, "floor": fs, "statuses": {"queue": queue["statuses"], "floor": floor["statuses"]},
            "cpu": {"queue": queue["cpu"], "floor": floor["cpu"]}, "checks": checks, "ok": not problems}


# ----- main ----------------------------------------------------------------------------------


def drop_database() -> None:
    assert DB_NAME.startswith(db.DB_PREFIX)  # never anything else
    with psycopg.connect(db.pg_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; PostgreSQL on "
          f"{db.PG_HOST}:{db.PG_PORT}; command: {' '.join(sys.argv)}", flush=True)
    db.django_setup(DB_NAME)
    db.db_ensure(DB_NAME, rebuild=True)
    server = None
    work = Path(tempfile.mkdtemp(prefix="palate-load-"))
    try:
        bench = db.project_ensure(items=args.items, history=0.1, labelers=args.labelers, rebuilt=True)
        tokens = db.tokens_make(args.labelers)
        tokens_file = work / "tokens.json"
        tokens_file.write_text(json.dumps(tokens))
        tokens_file.chmod(0o600)
        server = Server(dbname=DB_NAME, worker_class=args.worker_class, workers=args.workers,
                        threads=args.threads)
        print(f"  {server.description} on {HOST}:{server.port}; locust {args.labelers} users; "
              f"files in {work}", flush=True)
        common = {"server": server, "bench": bench, "tokens_file": tokens_file, "args": args, "work": work}
        floor = run_phase(mode="floor", **common)
        print(f"  floor done: {floor['stats'].get('me', {}).get('requests', 0):,} requests", flush=True)
        queue = run_phase(mode="queue", **common)
        print(f"  queue done: {len(queue['acks']):,} labels", flush=True)
        checks = db.integrity_check(bench, queue["acks"])
        checks["_unacknowledged"] = unacknowledged_explained(bench, queue["acks"], queue["abandoned"])
        result = report(args, queue, floor, checks, server)
    finally:
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_database()
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
