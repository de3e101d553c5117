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


def test_build_form_excludes_labelers_and_keeps_both_bad(labeled, engineer, client,
                                                         django_capture_on_commit_callbacks):
    client.force_login(engineer)
    url = f"/projects/{labeled.pk}/datasets/"
    form = client.get(url).content.decode()
    assert 'name="both_bad"' in form and 'name="min_labels"' in form
    assert '<option value="lab_lena">lab_lena</option>' in form
    assert '<option value="lab_liam">lab_liam</option>' in form
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"action": "build", "consensus": "majority", "min_agreement": "0",
                          "ties": "drop", "both_bad": "keep", "min_labels": "1",
                          "exclude_labelers": ["lab_liam"]})
        client.post(url, {"action": "build", "consensus": "majority", "min_agreement": "0",
                          "ties": "drop", "min_labels": "2"})
    excluding, everyone = DatasetSnapshot.objects.filter(project=labeled).order_by("version")
    assert excluding.filters["exclude_labelers"] == ["lab_liam"]
    assert excluding.filters["both_bad"] == "keep" and everyone.filters["min_labels"] == 2
    assert set(excluding.pairs.values_list("num_labels", flat=True)) == {1}

    page = client.get(url).content.decode()
    cells = {s.pk: page.split(f'data-snapshot="{s.pk}"')[1].split('data-field="filters"')[1]
             .split("</td>")[0] for s in (excluding, everyone)}
    assert "excluding lab_liam" in cells[excluding.pk] and "both bad keep" in cells[excluding.pk]
    assert "labels ≥ 1" in cells[excluding.pk]
    assert "no labeler excluded" in cells[everyone.pk] and "both bad drop" in cells[everyone.pk]
    assert "labels ≥ 2" in cells[everyone.pk]
    assert cells[excluding.pk] != cells[everyone.pk]


def test_the_format_menu_lists_exactly_the_registered_writers(labeled, engineer, client):
    from annotation.datasets.writers import WRITERS
    from annotation.services.datasets import dataset_snapshot_build

    dataset_snapshot_build(project=labeled, filters={})  # the menu sits on a snapshot's row
    client.force_login(engineer)
    page = client.get(f"/projects/{labeled.pk}/datasets/").content.decode()
    menu = page.split('name="format">', 1)[1].split("</select>", 1)[0]
    assert menu.count("<option") == len(WRITERS)
    for writer in WRITERS.values():
        assert f'<option value="{writer.name}">{writer.title}</option>' in menu
