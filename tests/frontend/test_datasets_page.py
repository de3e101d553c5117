import pytest

from annotation.models import DatasetExport, DatasetSnapshot, ExportStatus, SnapshotStatus
from tests.annotation.test_datasets import label_all


@pytest.fixture
def labeled(project, items, labeler, labeler2):
    label_all(project, [labeler, labeler2], lambda u, lease: {"strength": -2})
    return project


def test_engineer_builds_and_exports_from_the_page(labeled, engineer, client,
                                                   django_capture_on_commit_callbacks):
    client.force_login(engineer)
    url = f"/projects/{labeled.pk}/datasets/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "build", "consensus": "majority",
                                     "min_agreement": "0.5", "ties": "drop"})
    assert response.status_code == 302
    snapshot = DatasetSnapshot.objects.get(project=labeled)
    assert snapshot.status == SnapshotStatus.READY and snapshot.filters["min_agreement"] == 0.5
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"action": "export", "snapshot": snapshot.pk, "format": "parquet"})
    export = DatasetExport.objects.get(snapshot=snapshot)
    assert export.status == ExportStatus.SUCCEEDED
    page = client.get(url).content.decode()
    assert snapshot.content_hash[:12] in page
    assert f"/api/projects/{labeled.pk}/exports/{export.pk}/download/" in page


@pytest.mark.parametrize("persona, status", [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_open_or_build(labeled, persona, status, client, request):
    client.force_login(request.getfixturevalue(persona))
    url = f"/projects/{labeled.pk}/datasets/"
    assert client.get(url).status_code == status
    assert client.post(url, {"action": "build"}).status_code == status
    assert not DatasetSnapshot.objects.exists()


def test_a_bad_filter_is_shown_and_builds_nothing(labeled, admin, client):
    client.force_login(admin)
    response = client.post(f"/projects/{labeled.pk}/datasets/",
                           {"action": "build", "ties": "sometimes"}, follow=True)
    assert "must be drop or keep" in response.content.decode()
    assert not DatasetSnapshot.objects.exists()
