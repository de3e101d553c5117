"""No export format carries a labeler's username, e-mail address or name:
every file of every format (TRL JSONL in both styles, raw JSONL, Parquet,
a Hugging Face dataset folder), manifest and datasheet included, with and
without metadata columns, and with a snapshot that excludes a labeler by name."""

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from annotation.datasets.rows import labeler_pseudonym
from annotation.datasets.writers import export_write
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.queue import item_claim_next
from annotation.services.submissions import annotation_submit

User = get_user_model()

VARIANTS = [("trl", "conversational", False), ("trl", "text", True), ("raw", "conversational", False),
            ("parquet", "conversational", True), ("parquet", "text", False), ("hf", "conversational", True)]


def readable_text(path: Path) -> str:
    """A file's content as text: decoded tables for the binary formats (they
    compress, so a name could hide from a byte search), the bytes otherwise."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False, default=str)
    if path.suffix == ".arrow":
        import pyarrow as pa

        with pa.memory_map(str(path)) as source:
            try:
                table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                table = pa.ipc.open_file(source).read_all()
        return json.dumps(table.to_pylist(), ensure_ascii=False, default=str)
    return path.read_bytes().decode("utf-8", errors="replace")


@pytest.fixture
def labeled(project, items, labeler, labeler2, admin):
    named = {labeler: ("Lena", "Lindqvist"), labeler2: ("Liam", "Okonkwo")}
    for user, (first, last) in named.items():
        User.objects.filter(pk=user.pk).update(first_name=first, last_name=last)
    for who in (labeler, labeler2, admin):
        for n in range(len(items)):
            lease = item_claim_next(project=project, labeler=who)
            if lease is None:
                break
            annotation_submit(assignment=lease, data={"strength": 2 if n % 2 else -1,
                                                      "rationale": "clearer answer"},
                              idempotency_key=f"{who.username}-{n:04d}")
    return project


def personal_strings() -> list[str]:
    found = []
    for user in User.objects.all():
        found += [s for s in (user.username, user.email, user.first_name, user.last_name) if s]
    return found


@pytest.mark.parametrize(("fmt", "style", "meta"), VARIANTS)
def test_exports_contain_no_usernames_emails_or_names(labeled, labeler, tmp_path, fmt, style, meta):
    snapshot = dataset_snapshot_build(project=labeled, filters={"exclude_labelers": ["lab_liam"]})
    assert sum(snapshot.counts.values()) > 0
    out = tmp_path / "export"
    export_write(snapshot=snapshot, fmt=fmt, out=out, style=style, meta=meta)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"manifest.json", "datasheet.md"} <= {p.name for p in files}
    secrets = personal_strings()
    assert "lab_lena" in secrets and "lab_lena@example.test" in secrets and "Lindqvist" in secrets
    for path in files:
        text = readable_text(path)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path.relative_to(out)} contains {leaked}"
    manifest = json.loads((out / "manifest.json").read_text())
    liam = User.objects.get(username="lab_liam")
    assert manifest["filters"]["exclude_labelers"] == [labeler_pseudonym(liam.pk)]


def test_raw_export_names_labelers_by_pseudonym(labeled, labeler, tmp_path):
    snapshot = dataset_snapshot_build(project=labeled)
    export_write(snapshot=snapshot, fmt="raw", out=tmp_path / "raw")
    rows = [json.loads(line) for split in ("train", "test")
            for line in (tmp_path / "raw" / f"{split}.jsonl").read_text().splitlines()]
    assert labeler_pseudonym(labeler.pk) in {row["labeler"] for row in rows}


def test_hf_export_with_an_empty_split_loads_back(labeled, tmp_path):
    """Found by the test above: a project this small has an empty split, which
    the Hugging Face writer used to refuse (from_parquet) or save unreadably."""
    import datasets

    from annotation.models import Prompt

    Prompt.objects.filter(project=labeled).update(split="train")  # as a small project may have
    snapshot = dataset_snapshot_build(project=labeled)
    assert snapshot.counts["test"] == 0 and snapshot.counts["train"] > 0
    export_write(snapshot=snapshot, fmt="hf", out=tmp_path / "hf")
    loaded = datasets.load_from_disk(str(tmp_path / "hf" / "dataset"))
    assert {split: len(loaded[split]) for split in ("train", "test")} == snapshot.counts
