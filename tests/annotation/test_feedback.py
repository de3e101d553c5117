"""Single-response feedback through the API: create, label (thumbs up/down,
criteria, rationale), agreement, consensus, snapshot and the KTO/SFT exports."""

import json

import krippendorff
import numpy as np
import pyarrow.parquet as pq
import pytest
from django.core.cache import cache

from annotation.datasets.writers import export_write
from annotation.models import Annotation, ItemConsensus, Project, Role, SnapshotCompletion
from annotation.services.consensus import item_consensus_recompute
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.queue import new_idempotency_key
from tests.conftest import client_for
from tests.factories import items_make, member_add, user_make

# Per item (in creation order), each labeler's thumbs and helpfulness score.
VOTES = [
    [(True, 7), (True, 6), (True, 7)],
    [(True, 5), (True, 5), (False, 2)],
    [(False, 1), (False, 2), (False, 1)],
    [(True, 4), (False, 2), (False, 1)],
]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def feedback_project(superuser, labeler, labeler2):
    response = client_for(superuser).post("/api/projects/", {
        "name": "Thumbs", "slug": "thumbs", "task_type": "feedback", "overlap": 3,
        "test_fraction": 0.0}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["num_responses"] == 1  # the task type's default
    project = Project.objects.get(slug="thumbs")
    for user in (labeler, labeler2, user_make("lab_lola")):
        member_add(project, user, Role.LABELER)
    return project


def lease(client, project) -> dict:
    response = client.post(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 200, response.content
    return response.json()


def submit(client, assignment: int, **data):
    data.setdefault("idempotency_key", new_idempotency_key())
    return client.post(f"/api/assignments/{assignment}/submit/", data, format="json")


@pytest.fixture
def labeled(feedback_project):
    """Every labeler labels every item through next/submit, as VOTES says."""
    items = items_make(feedback_project, len(VOTES))
    index = {item.pk: n for n, item in enumerate(items)}
    labelers = [m.user for m in feedback_project.memberships.filter(role=Role.LABELER).order_by("pk")]
    for k, user in enumerate(labelers):
        client = client_for(user)
        for _ in items:
            got = lease(client, feedback_project)
            up, score = VOTES[index[got["item"]]][k]
            response = submit(client, got["assignment"], feedback=up, rationale="why",
                              ratings={"helpfulness": [score]})
            assert response.status_code == 201, response.json()
    return feedback_project, items


@pytest.mark.parametrize(("payload", "field"), [
    ({}, "feedback"),
    ({"feedback": "maybe"}, "feedback"),
    ({"feedback": True, "strength": 1}, "strength"),
    ({"feedback": True, "ranking": [1]}, "ranking"),
    ({"feedback": True, "both_bad": True}, "both_bad"),
    ({"feedback": True, "ratings": {"helpfulness": [3, 4]}}, "ratings.helpfulness"),
    ({"feedback": True, "ratings": {"helpfulness": [9]}}, "ratings.helpfulness"),
])
def test_invalid_feedback_is_refused_naming_the_field(feedback_project, labeler, payload, field):
    items_make(feedback_project, 1)
    client = client_for(labeler)
    got = lease(client, feedback_project)
    assert len(got["responses"]) == 1
    response = submit(client, got["assignment"], **payload)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not Annotation.objects.exists()


def test_feedback_submit_is_idempotent_and_stores_the_thumbs(feedback_project, labeler):
    items_make(feedback_project, 1)
    client = client_for(labeler)
    got = lease(client, feedback_project)
    key = new_idempotency_key()
    first = submit(client, got["assignment"], idempotency_key=key, feedback=False,
                   ratings={"honesty": [2]}, rationale="made up a citation")
    again = submit(client, got["assignment"], idempotency_key=key, feedback=False,
                   ratings={"honesty": [2]}, rationale="made up a citation")
    changed = submit(client, got["assignment"], idempotency_key=key, feedback=True,
                     ratings={"honesty": [2]}, rationale="made up a citation")
    assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 409)
    assert again.json()["id"] == first.json()["id"] and first.json()["feedback"] is False
    annotation = Annotation.objects.get()
    assert (annotation.feedback, annotation.strength, annotation.ranking) == (False, None, None)
    assert annotation.ratings == {"honesty": [2]}


def test_agreement_is_nominal_alpha_on_thumbs_and_interval_alpha_on_the_scale(labeled, superuser):
    project, _ = labeled
    report = client_for(superuser).get(f"/api/projects/{project.pk}/agreement/").json()
    thumbs = np.array([[float(v[k][0]) for v in VOTES] for k in range(3)])
    scores = np.array([[float(v[k][1]) for v in VOTES] for k in range(3)])
    nominal = krippendorff.alpha(reliability_data=thumbs, level_of_measurement="nominal")
    interval = krippendorff.alpha(reliability_data=scores, level_of_measurement="interval")
    assert report["task_type"] == "feedback" and report["n_annotations"] == 12
    assert report["alpha_nominal"]["estimate"] == pytest.approx(nominal, abs=1e-9)
    assert report["alpha_interval"]["estimate"] == pytest.approx(interval, abs=1e-9)
    assert report["alpha_interval_by_criterion"]["helpfulness"] == pytest.approx(interval, abs=1e-9)
    # By hand: n = 12 pairable values, 6 up and 6 down; the disagreeing ordered pairs
    # of items 1 and 3 weigh 2·1·2 / (3 − 1) = 2 each: alpha = 1 − (n − 1) · 4 / (2 · 6 · 6).
    assert nominal == pytest.approx(1 - 11 * 4 / 72)
    assert report["up_share"] == pytest.approx(6 / 12)
    assert report["percent_agreement"] == pytest.approx((1 + 1 / 3 + 1 + 1 / 3) / 4)


def test_majority_consensus_is_stored_per_item(labeled):
    project, items = labeled
    summary = item_consensus_recompute(project=project)
    assert summary["method"] == "majority" and summary["n_items"] == 4
    rows = {c.item_id: c for c in ItemConsensus.objects.filter(project=project)}
    got = [(rows[i.pk].label, rows[i.pk].strength, rows[i.pk].agreement) for i in items]
    assert got == [(1, 1.0, 1.0), (1, pytest.approx(2 / 3, abs=1e-6), pytest.approx(2 / 3, abs=1e-6)),
                   (0, 0.0, 1.0), (0, pytest.approx(1 / 3, abs=1e-6), pytest.approx(2 / 3, abs=1e-6))]


def test_snapshot_exports_kto_rows_and_sft_rows_from_the_ups(labeled, tmp_path):
    project, items = labeled
    snapshot = dataset_snapshot_build(project=project)
    assert snapshot.status == "ready" and snapshot.counts == {"train": 4, "test": 0}
    assert not snapshot.pairs.exists()
    assert SnapshotCompletion.objects.filter(snapshot=snapshot, label=True).count() == 2
    manifest = export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "trl", style="text")
    kto = [json.loads(line) for line in (tmp_path / "trl" / "train.jsonl").read_text().splitlines()]
    texts = {item.pk: item.responses.get().text for item in items}
    expected = [{"prompt": item.prompt.text, "completion": texts[item.pk], "label": label}
                for item, label in zip(items, (True, True, False, False), strict=True)]
    assert sorted(kto, key=lambda r: r["completion"]) == sorted(expected, key=lambda r: r["completion"])
    sft = [json.loads(line) for line in (tmp_path / "trl" / "sft" / "train.jsonl").read_text().splitlines()]
    assert sorted(r["completion"] for r in sft) == sorted(texts[i.pk] for i in items[:2])
    assert set(sft[0]) == {"prompt", "completion"}
    assert manifest["rows"] == {"train": 4, "test": 0} and manifest["sft"]["rows"]["train"] == 2

    export_write(snapshot=snapshot, fmt="parquet", out=tmp_path / "pq", meta=True)
    table = pq.read_table(tmp_path / "pq" / "train.parquet")
    assert table.column_names[:3] == ["prompt", "completion", "label"]
    assert sorted(table.column("label").to_pylist()) == [False, False, True, True]
    assert table.column("completion").to_pylist()[0][0]["role"] == "assistant"

    export_write(snapshot=snapshot, fmt="raw", out=tmp_path / "raw")
    raw = [json.loads(line) for line in (tmp_path / "raw" / "train.jsonl").read_text().splitlines()]
    assert len(raw) == 12 and {r["feedback"] for r in raw} == {True, False}


def test_an_adjudication_overrides_the_thumbs_in_the_snapshot(labeled, superuser):
    project, items = labeled
    url = f"/api/projects/{project.pk}/items/{items[3].pk}/adjudication/"
    refused = client_for(superuser).post(url, {"strength": 1}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "strength"
    decided = client_for(superuser).post(url, {"feedback": True, "note": "fine"}, format="json")
    assert decided.status_code == 201 and decided.json()["feedback"] is True
    snapshot = dataset_snapshot_build(project=project)
    row = SnapshotCompletion.objects.get(snapshot=snapshot, item_id=items[3].pk)
    assert (row.label, row.agreement) == (True, 1.0)
