"""Large uploads: stored, imported by a Celery job (eager here) with its progress
on the row, all or nothing, errors with line and field; the API answers 202 and
the job's URL. The synchronous path below the threshold is in test_api_uploads."""

from datetime import timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from annotation.models import ComparisonItem, Prompt, UploadJob
from annotation.services import upload_jobs, uploads
from annotation.services.upload_jobs import upload_job_run, upload_jobs_requeue_stale
from audit.models import AuditEvent
from core.jobs import fencing
from tests.annotation.test_api_uploads import ITEMS, jsonl, upload

PROMPTS = [{"prompt": f"Prompt number {i}?"} for i in range(5)]


@pytest.fixture(autouse=True)
def _large(settings, tmp_path):
    settings.PALATE_UPLOAD_ASYNC_BYTES = 64  # every test file here is "large"
    settings.PALATE_UPLOADS_DIR = tmp_path / "uploads"


def job_of(api, user, response) -> dict:
    assert response.status_code == 202, response.json()
    return api(user).get(response.json()["url"]).json()


@pytest.mark.django_db
def test_a_large_upload_is_a_job_that_imports_everything_and_counts_its_rows(
        api, engineer, project, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the job runs on commit
        response = upload(api, engineer, project, jsonl(PROMPTS), kind="prompts")
    assert response.json()["status"] == "queued" and response.json()["file_name"] == "rows.jsonl"
    job = job_of(api, engineer, response)
    assert (job["status"], job["progress_rows"], job["total_rows"]) == ("succeeded", 5, 5)
    assert (job["result"]["created"], job["result"]["skipped"], job["result"]["preview"]) == (5, 0, [])
    assert Prompt.objects.filter(project=project).count() == 5
    assert not list(settings.PALATE_UPLOADS_DIR.iterdir())  # the stored file is gone once imported
    events = dict(AuditEvent.objects.values_list("action", "actor_id"))
    assert events["upload.queue"] == engineer.pk and events["prompts.import"] == engineer.pk


@pytest.mark.django_db
def test_a_bad_line_fails_the_job_with_line_and_field_and_imports_nothing(
        api, engineer, project, django_capture_on_commit_callbacks):
    rows = [*ITEMS, {"prompt": "Lonely?", "responses": [{"text": "only one"}]}]
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api, engineer, project, jsonl(rows), kind="items")
    job = job_of(api, engineer, response)
    assert (job["status"], job["line"], job["field"]) == ("failed", 6, "responses")
    assert "2 responses" in job["error"]
    assert not Prompt.objects.exists() and not ComparisonItem.objects.exists()


@pytest.mark.django_db
def test_a_large_dry_run_answers_counts_and_a_preview_and_writes_nothing(
        api, engineer, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api, engineer, project, jsonl([*ITEMS, ITEMS[0]]), kind="items", dry_run="true")
    job = job_of(api, engineer, response)
    assert job["status"] == "succeeded" and job["dry_run"] is True
    result = job["result"]
    assert (result["rows"], result["created"], result["skipped"]) == (6, 5, 1)
    assert result["preview"][0]["line"] == 1
    assert not Prompt.objects.exists() and not ComparisonItem.objects.exists()


@pytest.mark.django_db
def test_another_projects_upload_is_not_found(api, engineer, project, superuser):
    from tests.factories import project_make

    other = project_make(creator=superuser)
    job = UploadJob.objects.create(project=other, kind="prompts", file="x.jsonl")
    assert api(engineer).get(f"/api/projects/{project.pk}/imports/{job.pk}/").status_code == 404


@pytest.mark.django_db
def test_the_watchdog_requeues_an_upload_whose_worker_died_and_it_imports_once(
        api, engineer, project, settings, django_capture_on_commit_callbacks):
    response = upload(api, engineer, project, jsonl(PROMPTS), kind="prompts")  # never sent: no commit
    pk = response.json()["id"]
    # Claimed by a worker that then died: running, last heard of long ago.
    UploadJob.objects.filter(pk=pk).update(status="running", attempt=1,
                                           heartbeat_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert upload_jobs_requeue_stale(stale_after=timedelta(minutes=5)) == 1
    job = UploadJob.objects.get(pk=pk)
    assert (job.status, job.attempt, job.progress_rows) == ("succeeded", 2, 5)
    assert Prompt.objects.filter(project=project).count() == 5
    assert upload_job_run(job_id=pk) is None  # a late duplicate finds nothing to claim


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer: no side progress")
@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_others_while_the_import_is_still_open(
        api, engineer, project, monkeypatch):
    """The rows done are written beside the import's transaction: another
    connection sees them grow while none of the prompts is committed yet."""
    monkeypatch.setattr(uploads, "CHUNK_ROWS", 2)
    response = upload(api, engineer, project, jsonl(PROMPTS), kind="prompts")
    pk = response.json()["id"]  # eager: on commit (autocommit here) the job ran already
    assert UploadJob.objects.get(pk=pk).status == "succeeded"

    UploadJob.objects.filter(pk=pk).update(status="queued", progress_rows=0, total_rows=0)
    Prompt.objects.all().delete()
    (upload_jobs.uploads_dir() / UploadJob.objects.get(pk=pk).file).write_text(
        "".join(f'{{"prompt": "{p["prompt"]}"}}\n' for p in PROMPTS))
    observer = connections.create_connection(DEFAULT_DB_ALIAS)
    seen = []
    real = fencing.job_progress_outside

    def watched(job, **fields):
        written = real(job, **fields)
        with observer.cursor() as cursor:
            cursor.execute("SELECT progress_rows, total_rows FROM annotation_uploadjob WHERE id = %s", [pk])
            done, total = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM annotation_prompt")
            seen.append((done, total, cursor.fetchone()[0]))
        return written

    monkeypatch.setattr(upload_jobs, "job_progress_outside", watched)
    try:
        upload_job_run(job_id=pk)
    finally:
        observer.close()
    assert seen == [(0, 5, 0), (2, 5, 0), (4, 5, 0), (5, 5, 0)]  # committed progress, no rows yet
    assert Prompt.objects.count() == 5 and UploadJob.objects.get(pk=pk).status == "succeeded"
