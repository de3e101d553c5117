"""The queue benchmark's database side: create and load a bench project with set-based
SQL, reset it between runs, and check the queue's invariants afterwards.

One database per project size (palate_bench_<items>). Load, per the size N:

* N/4 prompts whose content_hash is the SHA-256 of the canonical JSON that
  annotation.splits.prompt_hash would compute, and whose split is derived from it the
  same way as annotation.splits.split_for_hash (both re-checked in Python after loading);
* 4 responses per prompt; item k of a prompt compares 2 of them (positions 0 and 1);
* a labeling history: the oldest ``history`` fraction of the items is already done
  (overlap = 3 submitted assignments and annotations each, by 60 history users), so the
  assignment and annotation tables, their indexes and the planner's statistics look like
  a project mid-way, not an empty one. Open items follow in queue order.
"""

import json
import math
import os
import secrets
import time

import psycopg

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "root"
DB_PREFIX = "palate_bench_"
PROJECT_SLUG = "bench-queue"
OVERLAP = 3
ITEMS_PER_PROMPT = 4
RESPONSES_PER_PROMPT = 4
HISTORY_USERS = 60
LABELER_PREFIX = "bench_labeler_"
HISTORY_PREFIX = "bench_history_"
# Item k of a prompt compares these two of its 4 responses: (k, position, response index).
PAIRS = [(0, 0, 0), (0, 1, 1), (1, 0, 2), (1, 1, 3), (2, 0, 0), (2, 1, 2), (3, 0, 1), (3, 1, 3)]
T0 = "2025-01-01T00:00:00+00:00"


def pg_url(dbname: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


def db_name(items: int) -> str:
    return f"{DB_PREFIX}{items}"


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no samples."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def db_ensure(name: str, *, rebuild: bool) -> bool:
    """Create the bench database if needed; True if it was (re)created."""
    assert name.startswith(DB_PREFIX), name  # never drop anything else
    with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and rebuild:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
            return True
    return False


def db_set_synchronous_commit(name: str, value: str) -> None:
    """Database default for new connections (the app server starts after this)."""
    assert name.startswith(DB_PREFIX) and value in ("on", "off"), (name, value)
    with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = {value}')


def django_setup(first_db: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = pg_url(first_db)
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def django_use_database(name: str) -> None:
    """Point this process's Django connection at another bench database (one per size)."""
    from django.db import connection, connections

    connections.close_all()
    connection.settings_dict["NAME"] = name


def _users_ensure(prefix: str, count: int) -> list[int]:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    ids = []
    for i in range(count):
        user, created = User.objects.get_or_create(username=f"{prefix}{i:03d}")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        ids.append(user.pk)
    return ids


def project_ensure(*, items: int, history: float, labelers: int, rebuilt: bool) -> dict:
    """Migrate, load the project unless a complete one with the same shape is there, and
    make ``labelers`` labeler members. Returns the project's bench facts."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from annotation.models import Membership, Project, Role
    from annotation.services.projects import project_create

    dbname = connection.settings_dict["NAME"]
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable")  # the login budget's table under production settings
    shape = {"items": items, "history_items": round(items * history)}
    project = Project.objects.filter(slug=PROJECT_SLUG).first()
    if project is not None and not rebuilt:
        stored = json.loads(project.description or "{}")
        with psycopg.connect(pg_url(dbname)) as conn:
            n_items, n_slots = conn.execute(
                "SELECT (SELECT count(*) FROM annotation_comparisonitem WHERE project_id = %(p)s),"
                " (SELECT count(*) FROM annotation_itemresponse ir JOIN annotation_comparisonitem i"
                "  ON i.id = ir.item_id WHERE i.project_id = %(p)s)", {"p": project.pk}).fetchone()
        if stored != shape or (n_items, n_slots) != (items, 2 * items):
            raise SystemExit(f"{dbname} holds a different or incomplete project ({stored}, {n_items} "
                             f"items, {n_slots} slots; wanted {shape}): run again with --rebuild")
        print(f"  reusing {dbname}: {n_items:,} items, {shape['history_items']:,} already labeled",
              flush=True)
    else:
        admin = get_user_model().objects.get(pk=_users_ensure("bench_admin_", 1)[0])
        project = project_create(creator=admin, name="Queue benchmark", slug=PROJECT_SLUG,
                                 description=json.dumps(shape), overlap=OVERLAP, lease_seconds=900)
        history_users = _users_ensure(HISTORY_PREFIX, HISTORY_USERS)
        for user_id in history_users:
            Membership.objects.get_or_create(project=project, user_id=user_id,
                                             defaults={"role": Role.LABELER})
        started = time.perf_counter()
        load_items(dbname=dbname, project_id=project.pk, items=items,
                   history_items=shape["history_items"], history_users=history_users,
                   test_fraction=project.test_fraction)
        print(f"  loaded {items:,} items in {time.perf_counter() - started:.1f} s", flush=True)
    for user_id in _users_ensure(LABELER_PREFIX, labelers):
        Membership.objects.get_or_create(project=project, user_id=user_id,
                                         defaults={"role": Role.LABELER})
    return {"project_id": project.pk, "dbname": dbname, **shape}


LOAD_SQL = [
    # Canonical JSON written out by hand (keys sorted, no spaces) so that content_hash is
    # exactly annotation.splits.prompt_hash; split: the first 8 bytes of
    # sha256("split:" + hash) as an unsigned integer, compared with test_fraction * 2^64.
    ("prompts", """
    INSERT INTO annotation_prompt
        (project_id, external_id, messages, content_hash, split, metadata, created_at)
    SELECT %(project)s, 'bench-' || g, c.canon::jsonb, c.hash,
           CASE WHEN s.u::numeric + CASE WHEN s.u < 0 THEN %(two64)s::numeric ELSE 0 END
                     < %(test_fraction)s::numeric * %(two64)s::numeric
                THEN 'test' ELSE 'train' END,
           '{}'::jsonb, %(t0)s::timestamptz + g * interval '1 microsecond'
    FROM generate_series(1, %(prompts)s) AS g
    CROSS JOIN LATERAL (SELECT '[{"content":"Bench prompt ' || g
                               || ': which of the two answers is more helpful?","role":"user"}]'
                               AS canon) AS t
    CROSS JOIN LATERAL (SELECT t.canon, encode(sha256(convert_to(t.canon, 'UTF8')), 'hex') AS hash) c
    CROSS JOIN LATERAL (SELECT ('x' || encode(substring(sha256(convert_to('split:' || c.hash, 'UTF8'))
                                                       FROM 1 FOR 8), 'hex'))::bit(64)::bigint AS u) s
    ORDER BY g
    """),
    ("responses", """
    INSERT INTO annotation_response
        (prompt_id, text, source, model_name, sampling, metadata, created_at)
    SELECT p.id,
           'Answer ' || r || ' to ' || p.external_id || '. ' || repeat('Some plausible sentence. ', 10),
           'model', 'bench-model-' || r, '{"temperature": 0.7}'::jsonb, '{}'::jsonb, p.created_at
    FROM annotation_prompt p CROSS JOIN generate_series(0, %(responses)s - 1) AS r
    WHERE p.project_id = %(project)s
    ORDER BY p.id, r
    """),
    # Queue order is created_at, growing with g; the first history_items are already done.
    ("items", """
    INSERT INTO annotation_comparisonitem
        (project_id, prompt_id, is_gold, gold_answer, priority, assigned_count, submitted_count,
         is_open, created_at)
    SELECT %(project)s, p.id, false, NULL, 0, d.n, d.n, d.n < %(overlap)s,
           %(t0)s::timestamptz + g * interval '1 microsecond'
    FROM generate_series(1, %(items)s) AS g
    CROSS JOIN LATERAL (SELECT CASE WHEN g <= %(history_items)s THEN %(overlap)s ELSE 0 END AS n) d
    JOIN annotation_prompt p
      ON p.project_id = %(project)s AND p.external_id = 'bench-' || ((g - 1) / %(per_prompt)s + 1)
    ORDER BY g
    """),
    # Each item's two slots: positions 0 and 1, two different responses of its own prompt.
    ("item responses", """
    WITH i AS (
        SELECT id, prompt_id, row_number() OVER (PARTITION BY prompt_id ORDER BY id) - 1 AS k
        FROM annotation_comparisonitem WHERE project_id = %(project)s
    ), pairs(k, position, r) AS (SELECT * FROM unnest(%(pk)s::int[], %(pp)s::int[], %(pr)s::int[]))
    INSERT INTO annotation_itemresponse (item_id, response_id, position)
    SELECT i.id, resp.id, pairs.position
    FROM i
    JOIN pairs ON pairs.k = i.k
    JOIN annotation_response resp ON resp.prompt_id = i.prompt_id
                                 AND resp.model_name = 'bench-model-' || pairs.r
    ORDER BY i.id, pairs.position
    """),
    # History: each done item has `overlap` submitted leases by distinct history users
    # (offsets 0, 7, 14 modulo 60 never collide) ...
    ("history leases", """
    INSERT INTO annotation_assignment
        (project_id, item_id, labeler_id, status, display_order, is_gold, leased_at, expires_at,
         finished_at)
    SELECT %(project)s, i.id,
           (%(users)s::bigint[])[1 + (i.id + 7 * j) %% cardinality(%(users)s::bigint[])],
           'submitted', CASE WHEN (i.id + j) %% 2 = 0 THEN '[0, 1]' ELSE '[1, 0]' END::jsonb, false,
           t.leased, t.leased + interval '15 minutes', t.leased + interval '20 seconds'
    FROM annotation_comparisonitem i CROSS JOIN generate_series(0, %(overlap)s - 1) AS j
    CROSS JOIN LATERAL (SELECT i.created_at + j * interval '1 minute' AS leased) AS t
    WHERE i.project_id = %(project)s AND NOT i.is_open
    ORDER BY i.id, j
    """),
    # ... and one annotation per lease.
    ("history labels", """
    INSERT INTO annotation_annotation
        (project_id, item_id, labeler_id, assignment_id, source, strength, both_bad, ranking, ratings,
         rationale, flagged_unsafe, display_order, time_on_task_ms, idempotency_key, created_at)
    SELECT a.project_id, a.item_id, a.labeler_id, a.id, 'human', (a.id %% 5) - 2, false, NULL,
           '{}'::jsonb, '', false, a.display_order, 20000, 'history-' || a.id, a.finished_at
    FROM annotation_assignment a WHERE a.project_id = %(project)s
    ORDER BY a.id
    """),
]
TABLES = ("annotation_prompt", "annotation_response", "annotation_comparisonitem",
          "annotation_itemresponse", "annotation_assignment", "annotation_annotation")


def load_items(*, dbname: str, project_id: int, items: int, history_items: int,
               history_users: list[int], test_fraction: float) -> None:
    from annotation.splits import prompt_hash, split_for_hash

    params = {
        "project": project_id, "items": items, "prompts": -(-items // ITEMS_PER_PROMPT),
        "per_prompt": ITEMS_PER_PROMPT, "responses": RESPONSES_PER_PROMPT, "overlap": OVERLAP,
        "history_items": history_items, "users": history_users,
        "test_fraction": repr(test_fraction), "two64": str(2**64), "t0": T0,
        "pk": [p[0] for p in PAIRS], "pp": [p[1] for p in PAIRS], "pr": [p[2] for p in PAIRS],
    }
    with psycopg.connect(pg_url(dbname), autocommit=True) as conn:
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        with conn.transaction():
            for label, sql in LOAD_SQL:
                started = time.perf_counter()
                rows = conn.execute(sql, params).rowcount
                print(f"    {label:<16} {rows:>10,} rows  {time.perf_counter() - started:6.1f} s",
                      flush=True)
        started = time.perf_counter()
        for table in TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
        print(f"    VACUUM ANALYZE                    {time.perf_counter() - started:6.1f} s", flush=True)
        # The hashes and splits must be the application's own, not merely unique.
        bad = 0
        for messages, content_hash, split in conn.execute(
                "SELECT messages, content_hash, split FROM annotation_prompt WHERE project_id = %s",
                [project_id]):
            expected = prompt_hash(messages)
            bad += expected != content_hash or split_for_hash(expected, test_fraction=test_fraction) != split
        slots_bad = conn.execute(
            """SELECT count(*) FROM (
                 SELECT i.id FROM annotation_comparisonitem i
                 LEFT JOIN annotation_itemresponse ir ON ir.item_id = i.id
                 LEFT JOIN annotation_response r ON r.id = ir.response_id
                 WHERE i.project_id = %s
                 GROUP BY i.id
                 HAVING count(ir.id) <> 2 OR min(ir.position) <> 0 OR max(ir.position) <> 1
                     OR bool_or(r.prompt_id <> i.prompt_id)) AS wrong""", [project_id]).fetchone()[0]
    if bad or slots_bad:
        raise SystemExit(f"load check failed: {bad} prompts with a wrong hash or split, "
                         f"{slots_bad} items without exactly positions 0 and 1 of their own prompt")


def tokens_make(count: int) -> list[tuple[int, str]]:
    """(user id, raw token) for the first ``count`` bench labelers; fresh tokens each run."""
    from django.contrib.auth import get_user_model

    from annotation.services.tokens import token_create

    users = get_user_model().objects.filter(username__startswith=LABELER_PREFIX).order_by("username")
    return [(user.pk, token_create(user=user, name="bench")[1]) for user in users[:count]]


def _bench_labelers_sql() -> str:
    return f"SELECT id FROM auth_user WHERE username LIKE '{LABELER_PREFIX}%%'"


def queue_reset(bench: dict) -> None:
    """Forget the bench labelers' leases and labels (the history stays) and vacuum, so
    every run starts from the same state with fresh planner statistics."""
    params = {"p": bench["project_id"], "boundary": bench["history_items"], "t0": T0}
    with psycopg.connect(pg_url(bench["dbname"]), autocommit=True) as conn:
        with conn.transaction():
            conn.execute("DELETE FROM annotation_annotation WHERE project_id = %(p)s AND labeler_id IN ("
                         + _bench_labelers_sql() + ")", params)
            conn.execute("DELETE FROM annotation_assignment WHERE project_id = %(p)s AND labeler_id IN ("
                         + _bench_labelers_sql() + ")", params)
            conn.execute("""UPDATE annotation_comparisonitem
                            SET assigned_count = 0, submitted_count = 0, is_open = true
                            WHERE project_id = %(p)s
                              AND created_at > %(t0)s::timestamptz + %(boundary)s * interval '1 microsecond'
                              AND (assigned_count <> 0 OR submitted_count <> 0 OR NOT is_open)""", params)
        for table in ("annotation_annotation", "annotation_assignment", "annotation_comparisonitem"):
            conn.execute(f"VACUUM (ANALYZE) {table}")


# ----- checks -------------------------------------------------------------------------------

CHECK_SQL = """
WITH a AS (
    SELECT item_id,
           count(*) FILTER (WHERE status IN ('leased', 'submitted')) AS live,
           count(*) FILTER (WHERE status = 'submitted') AS submitted
    FROM annotation_assignment WHERE project_id = %(p)s GROUP BY item_id
), n AS (
    SELECT item_id, count(*) AS labels FROM annotation_annotation WHERE project_id = %(p)s
    GROUP BY item_id
), i AS (
    SELECT id, is_gold, assigned_count, submitted_count, is_open FROM annotation_comparisonitem
    WHERE project_id = %(p)s AND (assigned_count <> 0 OR submitted_count <> 0 OR NOT is_open)
), touched AS (
    SELECT id AS item_id FROM i UNION SELECT item_id FROM a UNION SELECT item_id FROM n
)
SELECT
    count(*) FILTER (WHERE NOT coalesce(i.is_gold, false) AND coalesce(a.live, 0) > %(overlap)s),
    count(*) FILTER (WHERE coalesce(i.assigned_count, 0) <> coalesce(a.live, 0)),
    count(*) FILTER (WHERE coalesce(i.submitted_count, 0) <> coalesce(n.labels, 0)
                        OR coalesce(a.submitted, 0) <> coalesce(n.labels, 0)),
    count(*) FILTER (WHERE NOT coalesce(i.is_gold, false)
                       AND coalesce(i.is_open, true) <> (coalesce(i.assigned_count, 0) < %(overlap)s))
FROM touched
LEFT JOIN i ON i.id = touched.item_id
LEFT JOIN a ON a.item_id = touched.item_id
LEFT JOIN n ON n.item_id = touched.item_id
"""


def integrity_check(bench: dict, acks: list) -> dict:
    """Every value is zero when the queue kept its promises. ``acks``: (labeler id,
    idempotency key, annotation id, assignment id, item id) of every 201 the labelers got."""
    params = {"p": bench["project_id"], "overlap": OVERLAP}
    with psycopg.connect(pg_url(bench["dbname"])) as conn:
        over, assigned_bad, submitted_bad, open_bad = conn.execute(CHECK_SQL, params).fetchone()
        orphans = conn.execute(
            """SELECT count(*) FROM annotation_annotation n
               LEFT JOIN annotation_assignment a ON a.id = n.assignment_id
               WHERE n.project_id = %(p)s AND (a.id IS NULL OR a.status <> 'submitted'
                     OR a.item_id <> n.item_id OR a.labeler_id <> n.labeler_id)""", params).fetchone()[0]
        conn.execute("CREATE TEMP TABLE acks (labeler_id bigint, idem text, annotation_id bigint,"
                     " assignment_id bigint, item_id bigint)")
        with conn.cursor().copy("COPY acks FROM STDIN") as copy:
            for row in acks:
                copy.write_row(row)
        not_once, different, stored = conn.execute(
            """SELECT
                 (SELECT count(*) FROM (
                    SELECT k.labeler_id, k.idem FROM acks k
                    LEFT JOIN annotation_annotation n
                      ON n.labeler_id = k.labeler_id AND n.idempotency_key = k.idem
                    GROUP BY k.labeler_id, k.idem HAVING count(n.id) <> 1) x),
                 (SELECT count(*) FROM acks k JOIN annotation_annotation n
                    ON n.labeler_id = k.labeler_id AND n.idempotency_key = k.idem
                  WHERE n.id <> k.annotation_id OR n.item_id <> k.item_id
                     OR n.assignment_id <> k.assignment_id),
                 (SELECT count(*) FROM annotation_annotation
                  WHERE project_id = %(p)s AND labeler_id IN (""" + _bench_labelers_sql() + "))",
            params).fetchone()
    duplicates = len(acks) - len({(a[0], a[1]) for a in acks})
    return {
        "over_assigned_items": over, "assigned_count_mismatch": assigned_bad,
        "submitted_count_mismatch": submitted_bad, "is_open_mismatch": open_bad,
        "annotations_without_their_submitted_lease": orphans,
        "acks_not_stored_exactly_once": not_once + duplicates,
        "acks_stored_differently": different,
        "annotations_never_acknowledged": stored - len(acks),
        "_acks": len(acks),
    }


# ----- where the time goes ------------------------------------------------------------------


def explain_claim(bench: dict, user_id: int) -> dict:
    """EXPLAIN ANALYZE the claim query exactly as item_claim_next sends it, for a labeler
    with a history, in transactions that are rolled back."""
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries, transaction
    from django.test.utils import CaptureQueriesContext

    from annotation.models import Project
    from annotation.services.queue import item_claim_next

    project = Project.objects.get(pk=bench["project_id"])
    labeler = get_user_model().objects.get(pk=user_id)
    reset_queries()  # the capture log is a bounded deque: a full one captures nothing
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        item_claim_next(project=project, labeler=labeler)
        transaction.set_rollback(True)
    claims = [q["sql"] for q in captured.captured_queries if "SKIP LOCKED" in q["sql"]]
    if not claims:
        return {"plan": "(no claim query: the labeler had a live lease)", "ms": math.nan}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + claims[0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return {"sql": claims[0], "plan": plan, "ms": float(plan.rsplit("Execution Time:", 1)[1].split()[0]),
            "uses_queue_index": "item_queue_idx" in plan,
            "statements_per_claim": len(captured.captured_queries)}


def in_process_costs(bench: dict, user_id: int, count: int) -> dict:
    """item_claim_next and annotation_submit called directly (no HTTP, no DRF, no auth) by
    one labeler working alone, ``count`` times: the queue's own cost in Python and SQL.
    Alone, every item this labeler labels stays open (overlap > 1), so each claim has to
    skip all of them; the claim query is EXPLAINed at the end, while the planner's
    statistics still predate this labeler's work, as they do for anyone who started
    after the last ANALYZE."""
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from annotation.models import Project
    from annotation.services.queue import item_claim_next, new_idempotency_key
    from annotation.services.submissions import annotation_submit

    project = Project.objects.get(pk=bench["project_id"])
    labeler = get_user_model().objects.get(pk=user_id)
    claim, submit, statements = [], [], []
    cpu0 = time.process_time()
    for _ in range(count):
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            lease = item_claim_next(project=project, labeler=labeler)
            t1 = time.perf_counter()
            lease.labeler = labeler
            annotation_submit(assignment=lease, data={"strength": -1},
                              idempotency_key=new_idempotency_key())
            t2 = time.perf_counter()
        claim.append((t1 - t0) * 1000)
        submit.append((t2 - t1) * 1000)
        statements.append(len(captured.captured_queries))
    cpu = 1000 * (time.process_time() - cpu0) / count
    head = min(100, count)
    return {"count": count, "claim_p50": pct(claim[:head], 50), "claim_p99": pct(claim[:head], 99),
            "submit_p50": pct(submit, 50), "submit_p99": pct(submit, 99),
            "claim_p50_last_100": pct(claim[-100:], 50),
            "claim_query_ms_at_end": explain_claim(bench, user_id)["ms"],
            "statements_per_label": pct(statements, 50), "python_cpu_ms_per_label": cpu}
