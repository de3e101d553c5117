import io
import json
import zipfile

import pytest

from annotation.models import DatasetExport, DatasetSnapshot, ExportStatus, SnapshotStatus
from annotation.services.exports import dataset_export_run
from tests.annotation.test_datasets import label_all


@pytest.fixture
def labeled(project, items, labeler, labeler2):
    label_all(project, [labeler, labeler2], lambda u, lease: {"strength": -2})
    return project


def snapshot_via_api(client, project, filters=None, capture=None):
    with capture(execute=True):
        response = client.post(f"/api/projects/{project.pk}/snapshots/",
                               {"filters": filters or {}}, format="json")
    assert response.status_code == 202, response.content
    return DatasetSnapshot.objects.get(pk=response.json()["id"])


def test_engineer_builds_exports_and_downloads_a_zip(labeled, engineer, api,
                                                     django_capture_on_commit_callbacks):
    client = api(engineer)
    snapshot = snapshot_via_api(client, labeled, capture=django_capture_on_commit_callbacks)
    assert snapshot.status == SnapshotStatus.READY and sum(snapshot.counts.values()) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{labeled.pk}/snapshots/{snapshot.pk}/exports/",
                               {"format": "trl"}, format="json")
    assert response.status_code == 202
    export_id = response.json()["id"]
    detail = client.get(f"/api/projects/{labeled.pk}/exports/{export_id}/").json()
    assert detail["status"] == "succeeded" and detail["progress_rows"] == 3
    download = client.get(f"/api/projects/{labeled.pk}/exports/{export_id}/download/")
    assert download.status_code == 200
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = archive.namelist()
    assert any(n.endswith("datasheet.md") for n in names)
    manifest = json.loads(archive.read(next(n for n in names if n.endswith("manifest.json"))))
    assert manifest["content_hash"] == snapshot.content_hash


@pytest.mark.parametrize("persona, status", [("labeler", 403), ("outsider", 404)])
def test_labeler_and_outsider_cannot_download(labeled, engineer, api, persona, status, request,
                                              django_capture_on_commit_callbacks):
    snapshot = snapshot_via_api(api(engineer), labeled, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        export_id = api(engineer).post(
            f"/api/projects/{labeled.pk}/snapshots/{snapshot.pk}/exports/", {"format": "raw"},
            format="json").json()["id"]
    client = api(request.getfixturevalue(persona))
    for url in (f"/api/projects/{labeled.pk}/exports/{export_id}/download/",
                f"/api/projects/{labeled.pk}/exports/{export_id}/",
                f"/api/projects/{labeled.pk}/snapshots/{snapshot.pk}/"):
        assert client.get(url).status_code == status
    before = DatasetExport.objects.count()
    response = client.post(f"/api/projects/{labeled.pk}/snapshots/{snapshot.pk}/exports/",
                           {"format": "raw"}, format="json")
    assert response.status_code == status
    assert DatasetExport.objects.count() == before


def test_export_of_another_project_is_not_found(labeled, engineer, admin, api,
                                                django_capture_on_commit_callbacks):
    from tests.factories import project_make

    other = project_make(creator=admin)
    snapshot = snapshot_via_api(api(engineer), labeled, capture=django_capture_on_commit_callbacks)
    response = api(admin).get(f"/api/projects/{other.pk}/snapshots/{snapshot.pk}/")
    assert response.status_code == 404


def test_a_bad_filter_is_refused_and_builds_nothing(labeled, engineer, api):
    response = api(engineer).post(f"/api/projects/{labeled.pk}/snapshots/",
                                  {"filters": {"ties": "maybe"}}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "ties"
    assert not DatasetSnapshot.objects.exists()


def test_an_export_task_delivered_twice_runs_once(labeled, engineer, api,
                                                  django_capture_on_commit_callbacks):
    snapshot = snapshot_via_api(api(engineer), labeled, capture=django_capture_on_commit_callbacks)
    export = DatasetExport.objects.create(snapshot=snapshot, format="trl")
    first = dataset_export_run(export_id=export.pk)
    assert first.status == ExportStatus.SUCCEEDED
    assert dataset_export_run(export_id=export.pk) is None


def test_download_before_the_export_finishes_is_a_conflict(labeled, engineer, api,
                                                           django_capture_on_commit_callbacks):
    snapshot = snapshot_via_api(api(engineer), labeled, capture=django_capture_on_commit_callbacks)
    export = DatasetExport.objects.create(snapshot=snapshot, format="trl")
    response = api(engineer).get(f"/api/projects/{labeled.pk}/exports/{export.pk}/download/")
    assert response.status_code == 409


@pytest.mark.parametrize("fmt", ["raw", "trl"])
def test_export_progress_counts_the_rows_each_format_writes(fmt, admin, labeler, labeler2,
                                                            django_capture_on_commit_callbacks):
    """Two items of a 4-way ranking, two labels each: raw writes the 4 label rows,
    TRL the C(4, 2) = 6 consensus pairs per item; total_rows says which."""
    from annotation.models import Role, TaskType
    from annotation.services.datasets import dataset_snapshot_build
    from tests.factories import items_make, member_add, project_make

    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=4, overlap=2,
                           test_fraction=0.0)
    for user in (labeler, labeler2):
        member_add(project, user, Role.LABELER)
    items_make(project, 2)
    label_all(project, [labeler, labeler2], lambda u, lease: {"ranking": [1, 2, 3, 4]})
    snapshot = dataset_snapshot_build(project=project, filters={"consensus": "mean"})
    assert sum(snapshot.counts.values()) == 12  # 2 items × 6 pairs
    export = DatasetExport.objects.create(snapshot=snapshot, format=fmt)
    done = dataset_export_run(export_id=export.pk)
    expected = {"raw": 4, "trl": 12}[fmt]
    assert (done.total_rows, done.progress_rows) == (expected, expected)
