"""Export formats have one home, annotation.datasets.writers.WRITERS: the API,
the export service and the datasets page offer exactly its formats, and a
format registered there is the one the service writes with."""

import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from annotation.datasets import writers
from annotation.datasets.writers import WRITERS, Writer
from annotation.models import DatasetExport, ExportStatus
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.exports import dataset_export_request, dataset_export_run
from tests.annotation.test_datasets import label_all


@pytest.fixture
def snapshot(project, items, labeler, labeler2):
    label_all(project, [labeler, labeler2], lambda u, lease: {"strength": -2})
    return dataset_snapshot_build(project=project, filters={})


def test_the_api_offers_exactly_the_registered_formats(snapshot, engineer, api):
    url = f"/api/projects/{snapshot.project_id}/snapshots/{snapshot.pk}/exports/"
    refused = api(engineer).post(url, {"format": "csv"}, format="json")
    assert refused.status_code == 400 and "format" in refused.json()
    schema = api(engineer).get("/api/schema/", {"format": "json"}).json()
    enum = schema["components"]["schemas"]["ExportInputFormatEnum"]["enum"]
    assert set(enum) == set(WRITERS)


def test_the_service_writes_with_the_registered_writer(snapshot, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    def write_split(folder, snap, split, style, meta, progress):
        (folder / f"{split}.txt").write_text(f"{snap.pk} {split} {style}")
        return 1

    formats = {**WRITERS, "plain": Writer("plain", "Plain text", write_split, preference=False)}
    monkeypatch.setattr(writers, "WRITERS", formats)
    with django_capture_on_commit_callbacks(execute=False):
        export = dataset_export_request(snapshot=snapshot, fmt="plain")
    done = dataset_export_run(export_id=export.pk)
    assert done.status == ExportStatus.SUCCEEDED and done.total_rows == sum(snapshot.counts.values())
    assert done.progress_rows == 2  # one row per split, as the writer said
    with zipfile.ZipFile(Path(settings.EXPORTS_DIR) / done.archive) as archive:
        train = next(n for n in archive.namelist() if n.endswith("/train.txt"))
        assert archive.read(train).decode() == f"{snapshot.pk} train conversational"
        manifest = json.loads(archive.read(next(n for n in archive.namelist()
                                                if n.endswith("manifest.json"))))
    assert manifest["format"] == "plain" and manifest["ties"]["file"] is None


def test_an_unknown_format_is_refused_naming_the_field(snapshot):
    from annotation.errors import Invalid

    with pytest.raises(Invalid) as error:
        dataset_export_request(snapshot=snapshot, fmt="csv")
    assert error.value.field == "format" and "trl" in str(error.value)
    assert not DatasetExport.objects.exists()
