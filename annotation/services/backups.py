"""One project's data to a file and back: `manage.py backup_project SLUG OUT`
and `manage.py restore_project FILE`.

What a project owns is what deleting it would delete: Django's deletion
collector walks every cascade (memberships, prompts, items, labels,
snapshots, exports, generation jobs, training runs, and whatever later apps
hang on a project), so new models are included without a list to maintain.
Rows keep their primary keys, which is what keeps a restored snapshot's
content hash identical: the hash covers item ids. Users are referenced by
username; a user missing at restore time is created inactive with no usable
password (an admin reactivates them with a reset link). Audit events are not
part of a project's backup: the log stays where it is.

The file is gzip'd JSON lines: a header, then Django's serialization of each
row. Everything is held in memory once while writing, so for very large
projects a database-level dump (pg_dump, see README) is the better tool.
"""

import datetime
import gzip
import io
import json
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models.deletion import Collector

from annotation.datasets.import_limits import MAX_LINE_BYTES, too_large
from annotation.errors import Conflict, Invalid
from annotation.models import Project
from audit.services import audit_record

FORMAT = "palate-project-backup/1"


def _owned_objects(project: Project) -> dict:
    """Model -> instances that cascade from the project (the project included),
    in primary-key order."""
    collector = Collector(using=DEFAULT_DB_ALIAS, origin=project)
    collector.collect([project])
    owned: dict = defaultdict(dict)
    for model, instances in collector.data.items():
        owned[model].update((obj.pk, obj) for obj in instances)
    # Rows the collector would delete with one query (no further cascades).
    for queryset in collector.fast_deletes:
        owned[queryset.model].update((obj.pk, obj) for obj in queryset)
    return {model: [rows[pk] for pk in sorted(rows)] for model, rows in owned.items()
            # A many-to-many table's rows travel with the model that declares it.
            if not model._meta.auto_created}


def _usernames(owned: dict) -> list[str]:
    user_model = get_user_model()
    ids: set = set()
    for model, instances in owned.items():
        for fk in (f for f in model._meta.concrete_fields if f.is_relation and f.related_model is user_model):
            ids.update(getattr(obj, fk.attname) for obj in instances)
    ids.discard(None)
    return sorted(user_model.objects.filter(pk__in=ids).values_list("username", flat=True))


class _FullPrecisionEncoder(DjangoJSONEncoder):
    """Django's encoder cuts datetimes to milliseconds; a backup keeps every
    microsecond (a snapshot selects labels by their creation time)."""

    def default(self, o):
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def project_backup_write(*, project: Project, out: Path) -> dict:
    """Write the project to ``out`` (atomically); returns the header."""
    owned = _owned_objects(project)
    header: dict = {"format": FORMAT, "project": project.slug, "project_id": project.pk,
              "rows": {model._meta.label_lower: len(rows) for model, rows in owned.items()},
              "users": _usernames(owned)}
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial")
    with gzip.open(tmp, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps(header) + "\n")
        for rows in owned.values():
            handle.write(serializers.serialize("jsonl", rows, use_natural_foreign_keys=True,
                                               cls=_FullPrecisionEncoder))
    tmp.replace(out)
    # Backups hold usernames and every label: who took one is worth knowing.
    audit_record(None, "project.backup", project, rows=sum(header["rows"].values()), via="command")
    return header


def _read(path: Path) -> tuple[dict, str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            # Bounded reads: gzip expands a thousandfold, so the file's size
            # says nothing about what it decompresses to.
            header = json.loads(handle.readline(MAX_LINE_BYTES))
            body = handle.read(settings.PALATE_RESTORE_MAX_BYTES + 1)
    except (OSError, EOFError, UnicodeDecodeError, RecursionError, json.JSONDecodeError) as error:
        raise Invalid(f"not a project backup: {error}", field="file") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise Invalid(f"not a {FORMAT} file", field="file")
    if len(body) > settings.PALATE_RESTORE_MAX_BYTES:
        raise too_large("the decompressed backup", settings.PALATE_RESTORE_MAX_BYTES, field="file")
    return header, body


@transaction.atomic
def project_restore(*, path: Path) -> Project:
    """Restore a project written by project_backup_write into this database,
    which must not hold it (nor any row with the same primary keys)."""
    header, body = _read(Path(path))
    if Project.objects.filter(slug=header["project"]).exists():
        raise Conflict(f"a project with slug '{header['project']}' exists; delete or rename it first",
                       field="slug")
    user_model = get_user_model()
    present = set(user_model.objects.filter(username__in=header["users"])
                  .values_list("username", flat=True))
    for username in sorted(set(header["users"]) - present):
        user = user_model(username=username, is_active=False)
        user.set_unusable_password()
        user.save()
    objects = list(serializers.deserialize("jsonl", io.StringIO(body), handle_forward_references=True))
    by_model = defaultdict(list)
    for obj in objects:
        by_model[type(obj.object)].append(obj.object.pk)
    for model, pks in by_model.items():
        taken = model._default_manager.filter(pk__in=pks).count()
        if taken:
            raise Conflict(f"{taken} {model._meta.verbose_name_plural} with these ids exist in this "
                           "database; restore into one without them", field="file")
    # As loaddata does: rows go in whatever order they come, references are
    # checked once all are in.
    with connection.constraint_checks_disabled():
        for obj in objects:
            obj.save()
    connection.check_constraints(table_names=[m._meta.db_table for m in by_model])
    # New rows must not reuse restored ids (PostgreSQL sequences lag behind).
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), list(by_model)):
            cursor.execute(statement)
    project = Project.objects.get(slug=header["project"])
    audit_record(None, "project.restore", project, rows=len(objects), via="command")
    return project

