"""The import API's other kinds: prompt files and ready-made comparison items
(JSONL, CSV, Parquet), and the dry run the data page previews with."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ComparisonItem, Prompt, Response
from audit.models import AuditEvent
from tests.annotation.test_import_preferences import TRL_ROWS

pytestmark = pytest.mark.django_db

ITEMS = [{"prompt": f"Question {i}?", "responses": [{"text": f"Short {i}", "model_name": "small"},
                                                    {"text": f"Long {i}", "model_name": "large"}]}
         for i in range(5)]


def jsonl(rows, name="rows.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, "".join(json.dumps(r) + "\n" for r in rows).encode())


def upload(api, user, project, file, **fields):
    return api(user).post(f"/api/projects/{project.pk}/imports/", {"file": file, **fields},
                          format="multipart")


def test_a_dry_run_counts_and_previews_and_writes_nothing(api, engineer, project):
    response = upload(api, engineer, project, jsonl([*ITEMS, ITEMS[0]]), kind="items",
                      dry_run="true")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["kind"], body["rows"], body["created"], body["skipped"],
            body["prompts_created"]) == ("items", 6, 5, 1, 5)
    first = body["preview"][0]
    assert first["line"] == 1 and first["messages"] == [{"role": "user", "content": "Question 0?"}]
    assert first["responses"] == [{"text": "Short 0", "model_name": "small"},
                                  {"text": "Long 0", "model_name": "large"}]
    assert not Prompt.objects.exists() and not Response.objects.exists()
    assert not AuditEvent.objects.filter(action="items.import").exists()


def test_an_items_file_imports_with_the_counts_its_preview_gave(api, engineer, project):
    dry = upload(api, engineer, project, jsonl(ITEMS), kind="items", dry_run="true").json()
    real = upload(api, engineer, project, jsonl(ITEMS), kind="items")
    assert real.status_code == 201
    assert {k: real.json()[k] for k in ("created", "skipped", "prompts_created")} == \
        {k: dry[k] for k in ("created", "skipped", "prompts_created")}
    assert ComparisonItem.objects.filter(project=project).count() == 5
    assert set(Response.objects.values_list("model_name", flat=True)) == {"small", "large"}
    assert AuditEvent.objects.get(action="items.import").actor_id == engineer.pk


def test_an_items_csv_with_numbered_response_columns(api, engineer, project):
    text = ("prompt,response_1,response_2,model_1,model_2,topic\n"
            "\"Two, lines?\",\"Yes\nreally\",No,m-a,m-b,geo\n")
    response = upload(api, engineer, project, SimpleUploadedFile("items.csv", text.encode()),
                      kind="items")
    assert response.status_code == 201, response.json()
    item = ComparisonItem.objects.get(project=project)
    assert [s.response.text for s in item.slots.order_by("position")] == ["Yes\nreally", "No"]
    assert [s.response.model_name for s in item.slots.order_by("position")] == ["m-a", "m-b"]
    assert item.prompt.metadata == {"topic": "geo"}


def test_an_items_parquet_file(api, engineer, project):
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{"prompt": "P?", "responses": ["a", "b"]}]), buffer)
    response = upload(api, engineer, project, SimpleUploadedFile("items.parquet", buffer.getvalue()),
                      kind="items")
    assert response.status_code == 201, response.json()
    assert ComparisonItem.objects.filter(project=project).count() == 1


def test_a_bad_item_line_names_line_and_field_and_imports_nothing(api, engineer, project):
    rows = [*ITEMS[:2], {"prompt": "Q", "responses": ["a", "b", "c"]}]
    response = upload(api, engineer, project, jsonl(rows), kind="items")
    assert response.status_code == 400
    assert (response.json()["line"], response.json()["field"]) == (3, "responses")
    rows = [ITEMS[0], {"prompt": "Q", "responses": ["a", {"model_name": "x"}]}]
    response = upload(api, engineer, project, jsonl(rows), kind="items")
    assert (response.json()["line"], response.json()["field"]) == (2, "responses[1].text")
    assert not Prompt.objects.exists() and not ComparisonItem.objects.exists()


def test_gold_items_in_a_file_need_a_project_admin(api, engineer, admin, project):
    rows = [{"prompt": "G?", "responses": ["a", "b"], "is_gold": True, "gold_answer": {"strength": 1}}]
    assert upload(api, engineer, project, jsonl(rows), kind="items").status_code == 403
    assert not ComparisonItem.objects.exists()
    assert upload(api, admin, project, jsonl(rows), kind="items").status_code == 201
    assert ComparisonItem.objects.get().is_gold


def test_a_prompts_csv_and_jsonl(api, engineer, project):
    response = upload(api, engineer, project,
                      SimpleUploadedFile("p.csv", b"prompt,lang\nHello?,en\nBonjour?,fr\n"),
                      kind="prompts")
    assert response.status_code == 201 and response.json()["created"] == 2
    response = upload(api, engineer, project, jsonl([{"prompt": "Hello?"}, {"prompt": "New?"}]),
                      kind="prompts")
    assert (response.json()["created"], response.json()["skipped"]) == (1, 1)
    assert Prompt.objects.filter(project=project).count() == 3


def test_preference_dry_run_previews_the_ranking(api, engineer, project):
    response = upload(api, engineer, project, jsonl(TRL_ROWS), dry_run="true")
    assert response.status_code == 200
    first = response.json()["preview"][0]
    assert first["ranking"] == [1, 2] and len(first["responses"]) == 2
    assert not ComparisonItem.objects.exists()


def test_an_unknown_kind_names_the_field(api, engineer, project):
    response = upload(api, engineer, project, jsonl(ITEMS), kind="videos")
    assert response.status_code == 400 and "kind" in response.json()
