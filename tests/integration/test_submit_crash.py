"""The one crash window of a submit: the web process dies after the annotation
is committed and before the answer leaves it. The client saw no answer and
retries with the same idempotency key; it must get the stored annotation, not
a second one and not an error.

The dying process is a real one: production settings on the test database,
the whole request stack (middleware, DRF, the submit service), killed with
os._exit right after the transaction that inserted the annotation commits.
"""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from annotation.models import Annotation, Assignment, AssignmentStatus, Role
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.tokens import token_create
from tests.conftest import client_for
from tests.factories import items_make, member_add, project_make, user_make
from tests.integration.conftest import database_url

pytestmark = pytest.mark.integration

# Runs in the child: submit through the full stack; the moment the INSERT of
# the annotation is committed, the process ends as a SIGKILL would end it.
CHILD = """
import os, sys
import django
django.setup()
from django.db import connection, transaction
from django.test import Client

def die_after_commit(execute, sql, params, many, context):
    result = execute(sql, params, many, context)
    if sql.lstrip().upper().startswith("INSERT") and "annotation_annotation" in sql:
        transaction.on_commit(lambda: os._exit(137))
    return result

client = Client(HTTP_AUTHORIZATION="Token " + sys.argv[1])
with connection.execute_wrapper(die_after_commit):
    response = client.post(sys.argv[2], sys.argv[3], content_type="application/json")
print("answered", response.status_code)
"""


def test_a_retry_after_a_crash_between_commit_and_answer_gets_the_stored_annotation(postgres_db, tmp_path):
    admin, labeler = user_make("admin_ann"), user_make("lab_lena")
    project = project_make(creator=admin, overlap=1, lease_seconds=600)
    member_add(project, labeler, Role.LABELER)
    items_make(project, 2)
    lease = item_claim_next(project=project, labeler=labeler)
    _, token = token_create(user=labeler)
    key = new_idempotency_key()
    path = f"/api/assignments/{lease.pk}/submit/"
    body = json.dumps({"strength": 1, "idempotency_key": key})

    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "PALATE_VAR_DIR")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url(postgres_db),
                "SECRET_KEY": "crash-test-secret-key", "DEBUG": "0", "ALLOWED_HOSTS": "testserver",
                "SECURE_SSL_REDIRECT": "0", "PALATE_VAR_DIR": str(tmp_path / "var")})
    child = subprocess.run([sys.executable, "-c", CHILD, token, path, body],  # noqa: S603
                           cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
                           timeout=120, check=False)
    assert child.returncode == 137, child.stdout + child.stderr
    assert "answered" not in child.stdout  # the client never got an answer
    stored = Annotation.objects.get(assignment_id=lease.pk)  # but the submit was committed
    assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.SUBMITTED

    retry = client_for(labeler).post(path, body, content_type="application/json")
    assert retry.status_code == 200, retry.content
    assert retry.json()["id"] == stored.pk
    assert Annotation.objects.filter(labeler=labeler).count() == 1
