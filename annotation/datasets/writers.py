"""Writing a snapshot to disk: streamed in chunks, atomic, with a datasheet.

Every format writes into a temporary folder beside the target and renames it
into place at the end, so a crash never leaves a half-written export.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from annotation.datasets.datasheet import datasheet_markdown
from annotation.datasets.rows import raw_rows, trl_rows
from annotation.errors import Invalid
from annotation.models import DatasetSnapshot, SnapshotStatus

FORMATS = ("trl", "raw", "parquet", "hf")
STYLES = ("conversational", "text")
SPLITS = ("train", "test")
PARQUET_BATCH = 10_000

Progress = Callable[[int], None]


def _rows(snapshot: DatasetSnapshot, fmt: str, split: str, style: str, meta: bool) -> Iterator[dict]:
    if fmt == "raw":
        return raw_rows(snapshot, split=split)
    return trl_rows(snapshot, split=split, style=style, meta=meta)


def _write_jsonl(path: Path, rows: Iterator[dict], progress: Progress) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False))
            handle.write("\n")
            count += 1
            if count % 10_000 == 0:
                progress(count)
    return count


def _write_parquet(path: Path, rows: Iterator[dict], progress: Progress) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    count = 0
    batch: list[dict] = []

    def flush():
        nonlocal writer
        table = pa.Table.from_pylist(batch, schema=writer.schema if writer else None)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)

    try:
        for row in rows:
            batch.append(row)
            count += 1
            if len(batch) >= PARQUET_BATCH:
                flush()
                batch = []
                progress(count)
        if batch or writer is None:
            if not batch:
                # An empty split still gets a readable file with no rows.
                return _write_empty_parquet(path)
            flush()
    finally:
        if writer is not None:
            writer.close()
    return count


def _write_empty_parquet(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({}), path)
    return 0


def export_write(*, snapshot: DatasetSnapshot, fmt: str, out: Path, style: str = "conversational",
                 meta: bool = False, overwrite: bool = False,
                 progress: Progress | None = None) -> dict:
    """Write ``snapshot`` as ``fmt`` into the folder ``out``; returns its manifest."""
    if fmt not in FORMATS:
        raise Invalid(f"must be one of {', '.join(FORMATS)}", field="format")
    if style not in STYLES:
        raise Invalid(f"must be one of {', '.join(STYLES)}", field="style")
    if snapshot.status != SnapshotStatus.READY:
        raise Invalid("the snapshot is not ready", field="snapshot")
    out = Path(out)
    if out.exists() and not overwrite:
        raise Invalid(f"{out} exists (pass overwrite to replace it)", field="out")
    progress = progress or (lambda n: None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        counts = {}
        done = 0
        for split in SPLITS:
            rows = _rows(snapshot, fmt, split, style, meta)
            report = lambda n, base=done: progress(base + n)  # noqa: E731
            if fmt in ("trl", "raw"):
                counts[split] = _write_jsonl(tmp / f"{split}.jsonl", rows, report)
            else:
                counts[split] = _write_parquet(tmp / f"{split}.parquet", rows, report)
            done += counts[split]
        if fmt == "hf":
            _parquet_to_hf(tmp)
        manifest = {
            "project": snapshot.project.slug, "snapshot_version": snapshot.version,
            "content_hash": snapshot.content_hash, "format": fmt, "style": style,
            "rows": counts, "filters": snapshot.filters, "code_version": snapshot.code_version,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        (tmp / "datasheet.md").write_text(datasheet_markdown(snapshot, manifest))
        _replace(tmp, out)
        progress(done)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _parquet_to_hf(folder: Path) -> None:
    """A Hugging Face `datasets` folder (save_to_disk) built from the parquet files."""
    import datasets

    splits = {}
    for split in SPLITS:
        source = folder / f"{split}.parquet"
        splits[split] = datasets.Dataset.from_parquet(
            str(source), cache_dir=str(folder / ".cache"), keep_in_memory=False)
    datasets.DatasetDict(splits).save_to_disk(str(folder / "dataset"))
    for split in SPLITS:
        (folder / f"{split}.parquet").unlink()
    shutil.rmtree(folder / ".cache", ignore_errors=True)


def _replace(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
