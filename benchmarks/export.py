"""Export benchmark: a 1,000,000-pair snapshot streamed to JSONL and Parquet.

For each format a fresh child process runs annotation.datasets.writers.export_write
and reports rows per second and its peak resident memory (ru_maxrss). The named
baseline, in the same run, is PostgreSQL's own COPY of the same three columns to
a file from an equally fresh process (`copy-baseline`): the fastest way the rows
can leave the database. Ratios are ours / baseline throughput (1.0 = as fast as COPY).

Targets (DESIGN.md): peak memory under 300 MB whatever the size, at least
100,000 rows/s.

Run (from the repository root; needs PostgreSQL on 127.0.0.1):
    .venv/bin/python benchmarks/export.py                # 1,000,000 pairs
    .venv/bin/python benchmarks/export.py --pairs 100000 # quicker
The data lives in the database palate_bench_export (--rebuild recreates it).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# benchmarks/queue.py would shadow the standard library's queue module: run
# from the repository root instead of this folder.
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

DB = "palate_bench_export"
SERVER = "postgres://root@127.0.0.1:5432"


def env() -> dict:
    return os.environ | {"DATABASE_URL": f"{SERVER}/{DB}", "SECRET_KEY": "bench-only",
                         "DJANGO_SETTINGS_MODULE": "config.settings"}


def psql(sql: str, db: str = "test") -> str:
    import psycopg

    with psycopg.connect(f"{SERVER}/{db}", autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchone()[0] if cur.description else ""


def load(pairs: int, rebuild: bool) -> None:
    exists = psql(f"SELECT count(*) FROM pg_database WHERE datname = '{DB}'")
    if exists and rebuild:
        psql(f"DROP DATABASE {DB}")
        exists = 0
    if not exists:
        psql(f"CREATE DATABASE {DB}")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(),
                       check=True)
    have = psql("SELECT count(*) FROM annotation_snapshotpair", db=DB)
    if have == pairs:
        return
    started = time.perf_counter()
    psql("TRUNCATE annotation_snapshotpair, annotation_datasetsnapshot, annotation_project "
         "RESTART IDENTITY CASCADE", db=DB)
    psql("INSERT INTO annotation_project (name, slug, description, guidelines, task_type, "
         "num_responses, overlap, lease_seconds, criteria, allow_ties, gold_rate, test_fraction, "
         "created_at, updated_at) VALUES ('Bench', 'bench', '', '', 'pairwise', 2, 3, 900, "
         "'[]', true, 0, 0.1, now(), now())", db=DB)
    psql("INSERT INTO annotation_datasetsnapshot (project_id, version, filters, code_version, "
         "status, error, counts, agreement, content_hash, created_at, finished_at) VALUES "
         f"(1, 1, '{{}}', 'bench', 'ready', '', '{{\"train\": {pairs - pairs // 10}, "
         f"\"test\": {pairs // 10}}}', '{{}}', repeat('0', 64), now(), now())", db=DB)
    # Realistic row sizes: a one-turn prompt and two answers of a few hundred characters.
    psql("INSERT INTO annotation_snapshotpair (snapshot_id, item_id, prompt_id, prompt_messages, "
         "chosen_response_id, rejected_response_id, chosen, rejected, chosen_model, "
         "rejected_model, margin, is_tie, weight, agreement, num_labels, split) "
         "SELECT 1, g, g / 4, jsonb_build_array(jsonb_build_object('role', 'user', 'content', "
         "'Question number ' || g || ': explain how a hash table handles collisions, briefly.')), "
         "2 * g, 2 * g + 1, repeat('A careful, correct answer with an example. ', 8) || g, "
         "repeat('A vaguer answer that misses the point. ', 6) || g, 'policy-a', 'policy-b', "
         "1.5, false, 1.0, 1.0, 3, CASE WHEN g % 10 = 0 THEN 'test' ELSE 'train' END "
         f"FROM generate_series(1, {pairs}) AS g", db=DB)
    psql("ANALYZE annotation_snapshotpair", db=DB)
    print(f"loaded {pairs:,} pairs in {time.perf_counter() - started:.1f} s", flush=True)


def child(kind: str, out: str) -> None:
    """Runs in a fresh process: one export, then prints a JSON line of figures."""
    import django

    django.setup()
    from django.db import connection

    from annotation.datasets.writers import export_write
    from annotation.models import DatasetSnapshot

    snapshot = DatasetSnapshot.objects.get(pk=1)
    started = time.perf_counter()
    if kind == "copy-baseline":
        rows = 0
        connection.ensure_connection()
        sql = ("COPY (SELECT prompt_messages, chosen, rejected FROM annotation_snapshotpair "
               "WHERE snapshot_id = 1 ORDER BY id) TO STDOUT")
        with open(out, "wb") as handle, connection.connection.cursor().copy(sql) as copy:
            for block in copy:
                handle.write(block)
                rows += bytes(block).count(b"\n")
    else:
        manifest = export_write(snapshot=snapshot, fmt=kind, out=Path(out), overwrite=True)
        rows = sum(manifest["rows"].values())
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def run_child(kind: str, folder: str) -> dict:
    out = os.path.join(folder, kind)
    result = subprocess.run([sys.executable, __file__, "--child", kind, "--out", out], cwd=ROOT,
                            env=env(), check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.out)
        return
    load(args.pairs, args.rebuild)
    with tempfile.TemporaryDirectory(prefix="palate-export-bench-") as folder:
        results = [run_child(kind, folder) for kind in ("copy-baseline", "trl", "parquet")]
    base = results[0]["rows"] / results[0]["seconds"]
    print(f"\n{args.pairs:,} pairs; baseline = PostgreSQL COPY of the same columns to a file\n")
    print(f"{'export':<14} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'vs COPY':>8} {'peak MB':>8}")
    for r in results:
        rate = r["rows"] / r["seconds"]
        print(f"{r['kind']:<14} {r['rows']:>10,} {r['seconds']:>8.1f} {rate:>10,.0f} "
              f"{rate / base:>8.2f} {r['peak_mb']:>8.0f}")
    worst = max(r["peak_mb"] for r in results[1:])
    slowest = min(r["rows"] / r["seconds"] for r in results[1:])
    print(f"\npeak memory target (< 300 MB): {'met' if worst < 300 else 'MISSED'} ({worst:.0f} MB)")
    print(f"throughput target (>= 100,000 rows/s): {'met' if slowest >= 100_000 else 'MISSED'} "
          f"({slowest:,.0f} rows/s)")


if __name__ == "__main__":
    main()
