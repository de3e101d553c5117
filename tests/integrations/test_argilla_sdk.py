"""The Argilla fixtures checked with the real ``argilla`` package: each fixture
row is rebuilt as an ``argilla.Record`` (fields, metadata, every user's
response with its status, suggestions) and flattened by Argilla's own exporter
(the one ``records.to_list(flatten=True)`` and ``to_datasets()``/``to_hub()``
use), which must give the fixture row back. So the importer's tests run on the
layout Argilla writes, not on a guess of it. No Argilla server is involved."""

import json
from pathlib import Path
from uuid import UUID

import argilla as rg
import pytest
from argilla.records._io._generic import GenericIO  # the flattening behind to_list/to_datasets

FIXTURES = Path(__file__).parent / "fixtures"
SERVER_SIDE = ("status", "_server_id")  # assigned by the server, not by the record


def record_from_row(row: dict, *, fields: list[str], metadata: list[str]) -> rg.Record:
    questions = sorted({key[: -len(".responses")] for key in row if key.endswith(".responses")})
    responses = [
        rg.Response(question, value, user_id=UUID(user), status=status)
        for question in questions
        for value, user, status in zip(row[f"{question}.responses"] or [],
                                       row[f"{question}.responses.users"] or [],
                                       row[f"{question}.responses.status"] or [], strict=True)]
    suggestions = [
        rg.Suggestion(question, row[f"{question}.suggestion"], score=row.get(f"{question}.suggestion.score"),
                      agent=row.get(f"{question}.suggestion.agent"))
        for question in questions if row.get(f"{question}.suggestion") is not None]
    return rg.Record(id=row["id"], fields={name: row[name] for name in fields},
                     metadata={name: row[name] for name in metadata} or None,
                     responses=responses, suggestions=suggestions)


@pytest.mark.parametrize(("kind", "fields", "metadata"), [
    ("ranking", ["prompt", "response1", "response2"], ["source"]),
    ("rating", ["instruction", "response_a", "response_b", "response_c"], []),
])
def test_the_argilla_fixture_rows_are_what_argillas_exporter_writes(kind, fields, metadata):
    rows = json.loads((FIXTURES / "argilla_records.json").read_text())[kind]
    for row in rows:
        record = record_from_row(row, fields=fields, metadata=metadata)
        exported = GenericIO.to_list([record], flatten=True)[0]
        # A record without responses or a suggestion has no such keys; in the exported
        # table (one column per key of any record) its cells are null, as in the fixture.
        assert set(exported) <= set(row), row["id"]
        for key, value in row.items():
            if key not in SERVER_SIDE:
                assert exported.get(key) == value, (row["id"], key)


def test_argilla_refuses_a_response_of_an_unknown_status():
    # The check above has teeth: the SDK validates what the fixtures claim.
    with pytest.raises(ValueError, match="ResponseStatus"):
        rg.Response("preference", ["response1", "response2"],
                    user_id=UUID("2b7c0b1e-1111-4a4a-9a9a-aaaaaaaaaaaa"), status="accepted")
