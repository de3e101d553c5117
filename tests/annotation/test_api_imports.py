"""POST /api/projects/{id}/imports/: preference files uploaded by curators."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.api import views_imports
from annotation.models import Annotation, ComparisonItem, Prompt
from tests.annotation.test_import_preferences import TRL_ROWS, raw_row


def jsonl(rows, name="rows.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, "".join(json.dumps(r) + "\n" for r in rows).encode())


def upload(api, user, project, file, **fields):
    return api(user).post(f"/api/projects/{project.pk}/imports/", {"file": file, **fields},
                          format="multipart")


def test_an_engineer_uploads_trl_rows_and_gets_counts(api, engineer, project):
    response = upload(api, engineer, project, jsonl([*TRL_ROWS, TRL_ROWS[0]]))
    assert response.status_code == 201, response.json()
    assert response.json() == {"kind": "preferences", "format": "trl", "rows": 3, "created": 2,
                               "skipped": 1, "prompts_created": 2, "annotations": 2,
                               "annotations_skipped": 0, "preview": []}
    again = upload(api, engineer, project, jsonl(TRL_ROWS))
    assert (again.json()["created"], again.json()["skipped"]) == (0, 2)
    assert ComparisonItem.objects.filter(project=project).count() == 2


def test_a_raw_export_upload_creates_labels(api, admin, project):
    rows = [raw_row(labeler="L-one"), raw_row(labeler="L-two", strength=1)]
    response = upload(api, admin, project, jsonl(rows), format="raw")
    assert response.status_code == 201, response.json()
    assert response.json()["format"] == "raw"
    assert (response.json()["created"], response.json()["annotations"]) == (1, 2)
    assert Annotation.objects.filter(project=project).count() == 2


def test_a_parquet_upload_is_read(api, engineer, project):
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(TRL_ROWS), buffer)
    file = SimpleUploadedFile("rows.parquet", buffer.getvalue())
    response = upload(api, engineer, project, file)
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 2


def test_hh_transcripts_upload(api, engineer, project):
    row = {"chosen": "\n\nHuman: Hi?\n\nAssistant: Hello!",
           "rejected": "\n\nHuman: Hi?\n\nAssistant: Go away."}
    response = upload(api, engineer, project, jsonl([row]), format="hh")
    assert response.status_code == 201, response.json()
    assert Prompt.objects.get(project=project).messages == [{"role": "user", "content": "Hi?"}]


def test_a_bad_line_is_400_with_line_and_field_and_writes_nothing(api, engineer, project):
    rows = [TRL_ROWS[0], {"prompt": "Where is the answer?", "chosen": "Here"}]
    response = upload(api, engineer, project, jsonl(rows))
    assert response.status_code == 400
    assert response.json() == {"code": "invalid", "detail": "is missing", "field": "rejected",
                               "line": 2}
    assert not Prompt.objects.filter(project=project).exists()


def test_broken_json_is_400_with_its_line(api, engineer, project):
    file = SimpleUploadedFile("rows.jsonl", (json.dumps(TRL_ROWS[0]) + "\n{oops\n").encode())
    response = upload(api, engineer, project, file)
    assert response.status_code == 400 and response.json()["line"] == 2
    assert not ComparisonItem.objects.filter(project=project).exists()


def test_a_file_over_the_limit_is_refused(api, engineer, project, monkeypatch):
    monkeypatch.setattr(views_imports, "MAX_UPLOAD_BYTES", 100)
    response = upload(api, engineer, project, jsonl(TRL_ROWS))
    assert response.status_code == 400
    assert response.json()["field"] == "file" and "larger than" in response.json()["detail"]
    assert not ComparisonItem.objects.filter(project=project).exists()


@pytest.mark.parametrize("name", ["rows.csv", "rows"])
def test_an_unknown_file_type_is_refused(api, engineer, project, name):
    response = upload(api, engineer, project, SimpleUploadedFile(name, b"prompt,chosen\n"))
    assert response.status_code == 400 and response.json()["field"] == "file"


def test_a_missing_file_names_the_field(api, engineer, project):
    response = api(engineer).post(f"/api/projects/{project.pk}/imports/", {"format": "trl"},
                                  format="multipart")
    assert response.status_code == 400 and "file" in response.json()


@pytest.mark.parametrize("persona, status", [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_import(api, project, persona, status, request):
    response = upload(api, request.getfixturevalue(persona), project, jsonl(TRL_ROWS))
    assert response.status_code == status
    assert not ComparisonItem.objects.filter(project=project).exists()
