"""The migration endpoints and commands: uploads, 400s naming line and field
with nothing written, safe zip handling, the export download, and roles."""

import io
import json
import zipfile

import datasets
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from annotation.models import Annotation, ComparisonItem
from audit.models import AuditEvent
from tests.integrations.test_migration import argilla_records, ls_bytes


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


@pytest.mark.django_db
def test_label_studio_upload_and_export(project, engineer, labeler, api):
    url = f"/api/projects/{project.pk}/imports/label-studio/"
    answer = api(engineer).post(url, {"file": upload("export.json", ls_bytes("label_studio_pairwise.json"))},
                                format="multipart")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["created"] == 2 and answer.json()["annotations"] == 3
    assert AuditEvent.objects.filter(action="project.import", project_id=project.pk).exists()

    download = api(engineer).get(f"/api/projects/{project.pk}/exports/label-studio/")
    assert download.status_code == 200 and download["Content-Type"] == "application/json"
    assert download["Content-Disposition"].startswith("attachment;")
    tasks = json.loads(download.content)
    assert len(tasks) == 2 and sum(len(t["annotations"]) for t in tasks) == 3
    assert "import:" not in download.content.decode()  # labelers only as numbers and pseudonyms

    refused = api(labeler).post(url, {"file": upload("export.json", b"[]")}, format="multipart")
    assert refused.status_code == 403
    assert api(labeler).get(f"/api/projects/{project.pk}/exports/label-studio/").status_code == 403


@pytest.mark.django_db
def test_a_bad_label_studio_upload_is_a_400_naming_line_and_field(project, engineer, api):
    tasks = json.loads(ls_bytes("label_studio_pairwise.json"))
    tasks[1]["annotations"][0]["result"][0]["value"]["selected"] = "up"
    answer = api(engineer).post(f"/api/projects/{project.pk}/imports/label-studio/",
                                {"file": upload("export.json", json.dumps(tasks).encode())},
                                format="multipart")
    assert answer.status_code == 400
    assert answer.json() | {"detail": ""} == {"code": "invalid", "detail": "", "line": 2,
                                              "field": "annotations[0].result[0].value.selected"}
    assert not ComparisonItem.objects.filter(project=project).exists()
    wrong = api(engineer).post(f"/api/projects/{project.pk}/imports/label-studio/",
                               {"file": upload("export.csv", b"a,b")}, format="multipart")
    assert wrong.status_code == 400 and wrong.json()["field"] == "file"


def zipped(folder, *, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + str(path.relative_to(folder.parent)))
    return buffer.getvalue()


@pytest.mark.django_db
def test_argilla_upload_as_a_zipped_datasets_folder(project, admin, api, tmp_path):
    folder = tmp_path / "argilla-export"
    datasets.Dataset.from_list(argilla_records("ranking")).save_to_disk(str(folder))
    answer = api(admin).post(f"/api/projects/{project.pk}/imports/argilla/",
                             {"file": upload("argilla.zip", zipped(folder))}, format="multipart")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["created"] == 2 and answer.json()["annotations"] == 3


@pytest.mark.django_db
def test_a_zip_member_outside_the_archive_is_refused(project, admin, api, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.parquet", b"x")
    answer = api(admin).post(f"/api/projects/{project.pk}/imports/argilla/",
                             {"file": upload("argilla.zip", buffer.getvalue())}, format="multipart")
    assert answer.status_code == 400 and "outside the archive" in answer.json()["detail"]
    assert not (tmp_path.parent / "escape.parquet").exists()


@pytest.mark.django_db
def test_commands_import_and_export(project, tmp_path):
    source = tmp_path / "ls.json"
    source.write_bytes(ls_bytes("label_studio_pairwise.json"))
    call_command("import_label_studio", project.slug, str(source))
    parquet = tmp_path / "argilla.parquet"
    records = argilla_records("ranking")
    for record in records:  # other prompts, so the items are new
        record["prompt"] = "Argilla: " + record["prompt"]
    datasets.Dataset.from_list(records).to_parquet(str(parquet))
    call_command("import_argilla", project.slug, str(parquet), "--response-fields", "response1,response2")
    out = tmp_path / "out.json"
    call_command("export_label_studio", project.slug, "--out", str(out))
    tasks = json.loads(out.read_text())
    assert len(tasks) == 4
    exported = sum(len(t["annotations"]) for t in tasks)
    assert exported == Annotation.objects.filter(project=project).count() == 6
