"""backup_project / restore_project: a project comes back with the same rows,
ids and dataset hashes; a restore never overwrites what exists."""

import gzip
import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from annotation.models import Annotation, ComparisonItem, DatasetSnapshot, Membership, Project, Prompt
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.queue import item_claim_next
from annotation.services.submissions import annotation_submit
from audit.models import AuditEvent
from generation.models import GenerationJob, ModelRole, ModelSpec

User = get_user_model()


@pytest.fixture
def labeled(project, items, labeler, labeler2, tmp_path):
    for who, strength in ((labeler, 2), (labeler2, 1)):  # they agree on the side
        for n in range(len(items)):
            lease = item_claim_next(project=project, labeler=who)
            annotation_submit(assignment=lease, data={"strength": strength if n % 2 else -strength},
                              idempotency_key=f"{who.username}-{n:04d}")
    spec = ModelSpec.objects.create(name="backup-policy", role=ModelRole.POLICY, path=str(tmp_path))
    GenerationJob.objects.create(project=project).model_specs.add(spec)
    return project


def state(project_id: int) -> dict:
    return {
        "project": list(Project.objects.filter(pk=project_id).values()),
        "members": list(Membership.objects.filter(project_id=project_id).order_by("pk").values()),
        "prompts": list(Prompt.objects.filter(project_id=project_id).order_by("pk").values()),
        "items": list(ComparisonItem.objects.filter(project_id=project_id).order_by("pk").values()),
        "annotations": list(Annotation.objects.filter(project_id=project_id).order_by("pk").values()),
        "snapshots": list(DatasetSnapshot.objects.filter(project_id=project_id).order_by("pk")
                          .values("pk", "version", "content_hash", "counts", "filters")),
        "job_models": list(GenerationJob.objects.filter(project_id=project_id)
                           .values_list("pk", "model_specs__name")),
    }


def test_a_deleted_project_is_restored_with_identical_rows_and_dataset_hashes(labeled, tmp_path):
    snapshot = dataset_snapshot_build(project=labeled, filters={"min_labels": 2})
    assert sum(snapshot.counts.values()) > 0
    pk = labeled.pk
    before = state(pk)
    out = tmp_path / "project.jsonl.gz"
    call_command("backup_project", labeled.slug, str(out), stdout=io.StringIO())
    labeled.delete()
    assert not Annotation.objects.exists()

    call_command("restore_project", str(out), stdout=io.StringIO())
    after = state(pk)
    for kind, rows in before.items():
        differing = [{k: (b[k], a.get(k)) for k in b if b[k] != a.get(k)}
                     for b, a in zip(rows, after[kind], strict=False) if b != a]
        assert len(rows) == len(after[kind]) and not differing, (kind, differing[:1])
    restored = DatasetSnapshot.objects.get(pk=snapshot.pk)
    rebuilt = dataset_snapshot_build(project=restored.project, filters=restored.filters)
    assert rebuilt.content_hash == restored.content_hash == snapshot.content_hash
    assert rebuilt.pk > snapshot.pk  # sequences moved past the restored ids
    # (Creating the project recorded "project.create" before the backup, and each
    # snapshot build its "snapshot.create".)
    assert list(AuditEvent.objects.filter(project_id=pk)
                .exclude(action__in=["project.create", "snapshot.create"])
                .order_by("pk").values_list("action", flat=True)) == ["project.backup",
                                                                      "project.restore"]


def test_missing_users_are_created_inactive_without_a_password(labeled, labeler, tmp_path):
    out = tmp_path / "project.jsonl.gz"
    call_command("backup_project", labeled.slug, str(out), stdout=io.StringIO())
    labeled.delete()
    Annotation.objects.all().delete()
    User.objects.filter(pk=labeler.pk).delete()
    call_command("restore_project", str(out), stdout=io.StringIO())
    recreated = User.objects.get(username="lab_lena")
    assert not recreated.is_active and not recreated.has_usable_password()
    assert Annotation.objects.filter(labeler=recreated).count() == 3


def test_restore_refuses_a_project_that_exists(labeled, tmp_path):
    out = tmp_path / "project.jsonl.gz"
    call_command("backup_project", labeled.slug, str(out), stdout=io.StringIO())
    before = state(labeled.pk)
    with pytest.raises(CommandError, match="exists"):
        call_command("restore_project", str(out))
    assert state(labeled.pk) == before


def test_restore_refuses_rows_whose_ids_are_taken(labeled, tmp_path):
    out = tmp_path / "project.jsonl.gz"
    call_command("backup_project", labeled.slug, str(out), stdout=io.StringIO())
    Project.objects.filter(pk=labeled.pk).update(slug="renamed")
    with pytest.raises(CommandError, match="with these ids exist"):
        call_command("restore_project", str(out))
    assert Project.objects.get(pk=labeled.pk).slug == "renamed"


def test_a_file_that_is_not_a_backup_is_refused(db, tmp_path):
    bogus = tmp_path / "bogus.jsonl.gz"
    with gzip.open(bogus, "wt") as handle:
        handle.write(json.dumps({"format": "something-else"}) + "\n")
    with pytest.raises(CommandError, match="not a palate-project-backup/1 file"):
        call_command("restore_project", str(bogus))
    plain = tmp_path / "plain.txt"
    plain.write_text("hello")
    with pytest.raises(CommandError, match="not a project backup"):
        call_command("restore_project", str(plain))


REBUILD = """
import json
import django
django.setup()
from annotation.models import DatasetSnapshot
from annotation.services.datasets import dataset_snapshot_build
stored = DatasetSnapshot.objects.get(pk={pk})
rebuilt = dataset_snapshot_build(project=stored.project, filters=stored.filters)
print(json.dumps({{"stored": stored.content_hash, "rebuilt": rebuilt.content_hash}}))
"""


@pytest.mark.django_db(transaction=True)
def test_pg_dump_and_pg_restore_round_trip_keeps_dataset_hashes(project, items, labeler, labeler2,
                                                                 tmp_path):
    """The README's whole-database procedure, run for real: dump the database,
    restore it into a new one, and rebuild a snapshot there from the restored
    labels with the settings module a deployment uses."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump and pg_restore are PostgreSQL's tools")  # CI always has PostgreSQL
    for who, strength in ((labeler, 2), (labeler2, 1)):
        for n in range(len(items)):
            lease = item_claim_next(project=project, labeler=who)
            annotation_submit(assignment=lease, data={"strength": strength if n % 2 else -strength},
                              idempotency_key=f"{who.username}-{n:04d}")
    snapshot = dataset_snapshot_build(project=project, filters={"min_labels": 2})
    assert sum(snapshot.counts.values()) > 0
    db = connection.settings_dict
    server = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}"
    restored = f"palate_restore_{os.getpid()}"
    dump = tmp_path / "palate.dump"
    run = lambda *args: subprocess.run(args, check=True, capture_output=True, text=True)  # noqa: E731,S603
    run("pg_dump", "--format=custom", "--file", str(dump), f"{server}/{db['NAME']}")
    run("createdb", "-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"], restored)
    try:
        run("pg_restore", "--no-owner", "--dbname", f"{server}/{restored}", str(dump))
        env = os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings",
                            "DATABASE_URL": f"{server}/{restored}", "SECRET_KEY": settings.SECRET_KEY,
                            "PALATE_VAR_DIR": str(tmp_path / "var")}
        result = subprocess.run([sys.executable, "-c", REBUILD.format(pk=snapshot.pk)],  # noqa: S603
                                cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
                                check=False, timeout=300)
        assert result.returncode == 0, result.stderr
        hashes = json.loads(result.stdout.strip().splitlines()[-1])
        assert hashes == {"stored": snapshot.content_hash, "rebuilt": snapshot.content_hash}
    finally:
        run("dropdb", "--if-exists", "-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"], restored)
