"""Input an attacker would send: NaN scores, JSON nested thousands deep,
digits that are not ASCII, ids past 64 bits, lone surrogates, NUL characters
and decompression bombs. Each is a clear 4xx naming the line or field, and
nothing is written."""

import gzip
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from annotation.errors import Invalid
from annotation.importers import prompts_read
from annotation.models import Annotation, ComparisonItem, Prompt
from annotation.services.backups import project_restore
from tests.conftest import client_for

BIG_ID = 2**63  # one past the largest bigint
DEEP_BODY = "[" * 5000 + "]" * 5000


def upload(user, project, name: str, content: bytes, **fields):
    return client_for(user).post(f"/api/projects/{project.pk}/imports/",
                                 {"file": SimpleUploadedFile(name, content), **fields},
                                 format="multipart")


def nothing_imported(project) -> bool:
    return not (ComparisonItem.objects.filter(project=project).exists()
                or Prompt.objects.filter(project=project).exists()
                or Annotation.objects.filter(project=project).exists())


# ----- NaN and Infinity -----


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_score_in_an_import_is_refused_naming_line_and_field(engineer, project, constant):
    good = {"prompt": "Name a colour.", "completions": [
        {"text": "Blue.", "score": 5.0}, {"text": "Red.", "score": 1.0}]}
    bad = ('{"prompt": "Name a shape.", "completions": [{"text": "Square.", "score": '
           + constant + '}, {"text": "Circle.", "score": 5.0}, {"text": "Line.", "score": 1.0}]}')
    response = upload(engineer, project, "scored.jsonl",
                      (json.dumps(good) + "\n" + bad + "\n").encode())
    assert response.status_code == 400, response.json()
    assert response.json()["line"] == 2
    assert response.json()["field"] == "completions[0].score"
    assert nothing_imported(project)


def test_a_nan_score_in_a_parquet_import_is_refused(engineer, project):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"prompt": "Name a shape.", "completions": [
        {"text": "Square.", "score": float("nan")}, {"text": "Circle.", "score": 5.0}]}]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    response = upload(engineer, project, "scored.parquet", buffer.getvalue())
    assert response.status_code == 400
    assert (response.json()["line"], response.json()["field"]) == (1, "completions[0].score")
    assert nothing_imported(project)


# ----- deep nesting -----


def test_json_nested_5000_deep_to_the_token_endpoint_is_a_400():
    response = APIClient().post("/api/auth/token/", DEEP_BODY, content_type="application/json")
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]


def test_an_import_line_nested_2000_deep_is_refused_naming_the_line(engineer, project):
    line = '{"prompt": "Hi", "chosen": "a", "rejected": "b", "meta": ' + "[" * 2000 + "]" * 2000 + "}"
    response = upload(engineer, project, "rows.jsonl", (line + "\n").encode())
    assert response.status_code == 400
    assert response.json()["line"] == 1
    assert nothing_imported(project)


def test_a_prompt_file_line_nested_deep_is_refused(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "Hi", "metadata": ' + "[" * 2000 + "]" * 2000 + "}\n")
    with pytest.raises(Invalid) as caught:
        prompts_read(path)
    assert caught.value.line == 1


# ----- integer query parameters -----


@pytest.mark.parametrize("path_template", [
    "/api/me/annotations/?project=²",
    "/api/projects/{project}/items/?prompt=²",
    "/api/projects/{project}/audit/?actor_id=²",
    "/api/audit/?actor_id=²",
    "/api/projects/{project}/items/?prompt=99999999999999999999",
])
def test_non_ascii_or_huge_digits_in_an_id_parameter_are_a_400(superuser, project, path_template):
    response = client_for(superuser).get(path_template.format(project=project.pk))
    assert response.status_code == 400, response.content
    assert response.json()["field"] in ("project", "prompt", "actor_id")


# ----- ids past 64 bits (SQLite's driver overflows; PostgreSQL finds nothing) -----


@pytest.mark.parametrize("path", [
    f"/api/projects/{BIG_ID}/",
    f"/api/projects/{BIG_ID}/items/",
    f"/api/assignments/{BIG_ID}/",
    f"/api/tokens/{BIG_ID}/",
    f"/projects/{BIG_ID}/label/",
    f"/projects/{BIG_ID}/quality/",
    f"/label/assignments/{BIG_ID}/content/",
])
@pytest.mark.parametrize("persona", ["labeler", "superuser"])
def test_an_id_past_64_bits_is_a_404(request, persona, project, path):
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    response = client.get(path)
    assert response.status_code == 404


@pytest.mark.parametrize("persona", ["admin", "superuser"])
def test_an_id_past_64_bits_inside_a_project_is_a_404(request, persona, project):
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    for path in (f"/api/projects/{project.pk}/items/{BIG_ID}/",
                 f"/api/projects/{project.pk}/prompts/{BIG_ID}/",
                 f"/api/projects/{project.pk}/snapshots/{BIG_ID}/",
                 f"/api/projects/{project.pk}/members/{BIG_ID}/",
                 f"/api/projects/{project.pk}/exports/{BIG_ID}/",
                 f"/api/projects/{project.pk}/generation-jobs/{BIG_ID}/",
                 f"/api/projects/{project.pk}/training-runs/{BIG_ID}/"):
        assert client.get(path).status_code == 404, path
    # The training page shows no run for an id that names none (it was a 500).
    assert client.get(f"/projects/{project.pk}/training/?run={BIG_ID}").status_code == 200


# ----- lone surrogates and NUL characters -----


@pytest.mark.parametrize(("text", "problem"), [("Hi \ud800 there", "surrogate"),
                                               ("Hi \x00 there", "NUL")])
def test_unstorable_text_in_a_prompt_is_a_400_naming_the_field(engineer, project, text, problem):
    body = json.dumps([{"prompt": "A fine prompt."}, {"prompt": text}])  # \ud800 escaped as JSON does
    response = client_for(engineer).post(f"/api/projects/{project.pk}/prompts/", body,
                                         content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "[1].prompt"
    assert problem in response.json()["detail"]
    assert nothing_imported(project)


@pytest.mark.parametrize("text", ["Hi \ud800 there", "Hi \x00 there"])
def test_unstorable_text_in_an_import_is_refused_naming_line_and_field(engineer, project, text):
    rows = [{"prompt": "Fine.", "chosen": "a", "rejected": "b"},
            {"prompt": "Also fine.", "chosen": text, "rejected": "b"}]
    content = "".join(json.dumps(row) + "\n" for row in rows).encode()
    response = upload(engineer, project, "rows.jsonl", content)
    assert response.status_code == 400, response.content
    assert (response.json()["line"], response.json()["field"]) == (2, "chosen")
    assert nothing_imported(project)


def test_a_nul_in_a_csv_prompt_file_is_refused(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("prompt,topic\nFine,a\n\"Not\x00fine\",b\n")
    with pytest.raises(Invalid) as caught:
        prompts_read(path)
    assert caught.value.line == 3


# ----- bombs -----


def parquet_bomb(rows: int = 4000, length: int = 150_000) -> bytes:
    """Dictionary-encoded long strings: a couple of kilobytes on disk,
    rows × length × 2 bytes decoded. Written in row groups, so building it
    never holds the decoded table either."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = "x" * length
    buffer = io.BytesIO()
    group = pa.table({"prompt": pa.DictionaryArray.from_arrays(pa.array([0] * 200, pa.int32()),
                                                               pa.array(["Hi"])),
                      "chosen": pa.DictionaryArray.from_arrays(pa.array([0] * 200, pa.int32()),
                                                               pa.array([text])),
                      "rejected": pa.DictionaryArray.from_arrays(pa.array([0] * 200, pa.int32()),
                                                                 pa.array([text]))})
    with pq.ParquetWriter(buffer, group.schema, compression="zstd") as writer:
        for _ in range(rows // 200):
            writer.write_table(group)
    return buffer.getvalue()


def test_a_parquet_decompression_bomb_is_refused_naming_the_limit(engineer, project):
    content = parquet_bomb()  # about 1.1 GiB decoded
    assert len(content) < 20_000
    response = upload(engineer, project, "bomb.parquet", content)
    assert response.status_code == 400
    assert "exceeds the import limit of 512 MiB" in response.json()["detail"]
    assert nothing_imported(project)


def test_a_parquet_value_longer_than_any_text_is_refused_naming_the_column(engineer, project):
    response = upload(engineer, project, "long.parquet", parquet_bomb(rows=200, length=2 * 2**20))
    assert response.status_code == 400
    assert response.json()["field"] in ("chosen", "rejected")
    assert "import limit of 1 MiB" in response.json()["detail"]


def test_a_gzip_backup_bomb_is_refused(db, tmp_path, settings):
    settings.PALATE_RESTORE_MAX_BYTES = 1 * 2**20
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b'{"format": "palate-project-backup/1"}\n')
        for _ in range(64):
            handle.write(b" " * 2**20)
    assert path.stat().st_size < 200_000
    with pytest.raises(Invalid) as caught:
        project_restore(path=path)
    assert "exceeds the import limit of 1 MiB" in str(caught.value)


def test_an_over_long_json_line_is_refused_without_reading_it_whole(engineer, project, monkeypatch):
    from annotation.datasets import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1000)
    content = b'{"prompt": "Hi", "chosen": "' + b"a" * 5000 + b'", "rejected": "b"}\n'
    response = upload(engineer, project, "rows.jsonl", content)
    assert response.status_code == 400
    assert response.json()["line"] == 1
    assert "import limit" in response.json()["detail"]


@pytest.mark.parametrize("fmt", ["json", "multipart"])
@pytest.mark.parametrize(("field", "value"), [
    ("check_every_minutes", 2**31), ("min_new_pairs", 10**20), ("prompts_per_round", 10**20),
    ("min_interval_hours", 1e308),
])
def test_a_loop_setting_past_its_column_is_a_400_naming_the_field(admin, project, field, value, fmt):
    """Once a 500 on PostgreSQL (integer out of range), found by the fuzzer."""
    response = client_for(admin).put(f"/api/projects/{project.pk}/loop/", {field: value}, format=fmt)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_value_the_database_cannot_store_is_a_400_not_a_500(admin, project):
    """The net under every serializer: a DataError means nothing was written."""
    from django.db import DataError
    from rest_framework.test import APIRequestFactory

    from annotation.api.exception_handler import palate_exception_handler

    request = APIRequestFactory().get("/")
    response = palate_exception_handler(DataError("integer out of range"), {"request": request})
    assert response.status_code == 400 and response.data["code"] == "out_of_range"
