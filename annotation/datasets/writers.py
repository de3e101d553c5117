"""Writing a snapshot to disk: streamed in chunks, atomic, with a datasheet.

Every format writes into a temporary folder beside the target and renames it
into place at the end, so a crash never leaves a half-written export.

Ties (kept with the ``ties: keep`` filter) are never written as
prompt/chosen/rejected rows: a trainer reading only those three columns would
learn a preference nobody expressed. The preference formats (trl, parquet, hf)
hold decided pairs only; the ties go to ``ties.jsonl`` beside them, with the two
responses as ``response_a``/``response_b`` (see rows.TIE_COLUMNS and the datasheet).

Snapshots of an unpaired task type (single-response feedback) hold labeled
completions instead of pairs: the same formats write TRL's unpaired
prompt/completion/label rows (what KTOTrainer reads), and the preference
formats add SFT rows (prompt/completion) from the thumbs-up ones under
``sft/`` (one JSONL file per split).

``WRITERS`` is the one list of export formats: the export service, the API's
format choices, the ``export_dataset`` command and the datasets page all read
it. A new format is one ``Writer`` entry (and its row function in ``rows``).
"""

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from annotation.datasets.columns import kto_batches, kto_schema, trl_batches, trl_schema
from annotation.datasets.datasheet import datasheet_markdown
from annotation.datasets.privacy import filters_public
from annotation.datasets.rows import kto_lines, raw_rows, sft_lines, tie_lines, trl_lines
from annotation.datasets.selection import annotations_for_snapshot
from annotation.errors import Invalid
from annotation.models import DatasetSnapshot, SnapshotStatus
from annotation.task_types import task_type_of

TIES_FILE = "ties.jsonl"
SFT_FOLDER = "sft"
STYLES = ("conversational", "text")
SPLITS = ("train", "test")
PARQUET_BATCH = 10_000

Progress = Callable[[int], None]


def _write_lines(path: Path, lines: Iterator[str], progress: Progress) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line)
            count += 1
            if count % 10_000 == 0:
                progress(count)
    return count


def _raw_lines(snapshot: DatasetSnapshot, split: str) -> Iterator[str]:
    for row in raw_rows(snapshot, split=split):
        yield json.dumps(row, ensure_ascii=False) + "\n"


def _write_parquet(path: Path, snapshot: DatasetSnapshot, split: str, style: str, meta: bool,
                   progress: Progress) -> int:
    import pyarrow.parquet as pq  # heavy: loaded only by the formats that need it

    # Pairs (prompt/chosen/rejected), or an unpaired snapshot's prompt/completion/label.
    unpaired = task_type_of(snapshot.project).unpaired
    schema, batches = (kto_schema, kto_batches) if unpaired else (trl_schema, trl_batches)
    count = 0
    with pq.ParquetWriter(path, schema(style=style, meta=meta), compression="snappy") as writer:
        for batch in batches(snapshot, split=split, style=style, meta=meta, size=PARQUET_BATCH):
            writer.write_batch(batch)
            count += batch.num_rows
            progress(count)
    return count


def _write_trl(folder: Path, snapshot: DatasetSnapshot, split: str, style: str, meta: bool,
               progress: Progress) -> int:
    # Pairs, or an unpaired (feedback) snapshot's prompt/completion/label rows.
    rows = kto_lines if task_type_of(snapshot.project).unpaired else trl_lines
    lines = rows(snapshot, split=split, style=style, meta=meta)
    return _write_lines(folder / f"{split}.jsonl", lines, progress)


def _write_raw(folder: Path, snapshot: DatasetSnapshot, split: str, style: str, meta: bool,
               progress: Progress) -> int:
    return _write_lines(folder / f"{split}.jsonl", _raw_lines(snapshot, split), progress)


def _write_parquet_split(folder: Path, snapshot: DatasetSnapshot, split: str, style: str, meta: bool,
                         progress: Progress) -> int:
    return _write_parquet(folder / f"{split}.parquet", snapshot, split, style, meta, progress)


@dataclass(frozen=True)
class Writer:
    """One export format."""

    name: str
    title: str  # what the datasets page shows
    write_split: Callable[[Path, DatasetSnapshot, str, str, bool, Progress], int]  # → rows written
    # Preference rows (decided pairs only): the ties go to ties.jsonl beside them.
    preference: bool = True
    one_row_per_label: bool = False  # raw: a row per label, not per snapshot pair
    finish: Callable[[Path], None] | None = None  # turns the split files into the final layout


def _finish_hf(folder: Path) -> None:
    _parquet_to_hf(folder)  # defined further down, with the other helpers that touch the files


WRITERS: dict[str, Writer] = {w.name: w for w in (
    Writer("trl", "TRL JSONL", _write_trl),
    Writer("parquet", "Parquet", _write_parquet_split),
    Writer("hf", "HF datasets", _write_parquet_split, finish=_finish_hf),
    Writer("raw", "Raw annotations", _write_raw, preference=False, one_row_per_label=True),
)}
FORMATS = tuple(WRITERS)  # the names, for argparse and serializer choices


def writer_get(fmt: str) -> Writer:
    """The writer of ``fmt``; an unknown one is an Invalid naming the ``format`` field."""
    try:
        return WRITERS[fmt]
    except KeyError:
        raise Invalid(f"must be one of {', '.join(WRITERS)}", field="format") from None


def writer_choices() -> list[tuple[str, str]]:
    """(name, title) pairs for a form or a serializer's ChoiceField."""
    return [(w.name, w.title) for w in WRITERS.values()]


def export_row_count(*, snapshot: DatasetSnapshot, fmt: str) -> int:
    """The rows ``fmt`` writes: raw writes one per label the snapshot drew on,
    the other formats one per snapshot pair (a ranking's label gives C(K, 2)
    pairs, a pairwise item's labels one)."""
    if writer_get(fmt).one_row_per_label:
        return annotations_for_snapshot(snapshot).filter(item__prompt__split__in=SPLITS).count()
    return sum(snapshot.counts.values())


def export_write(*, snapshot: DatasetSnapshot, fmt: str, out: Path, style: str = "conversational",
                 meta: bool = False, overwrite: bool = False,
                 progress: Progress | None = None) -> dict:
    """Write ``snapshot`` as ``fmt`` into the folder ``out``; returns its manifest."""
    writer = writer_get(fmt)
    if style not in STYLES:
        raise Invalid(f"must be one of {', '.join(STYLES)}", field="style")
    if snapshot.status != SnapshotStatus.READY:
        raise Invalid("the snapshot is not ready", field="snapshot")
    out = Path(out)
    if out.exists() and not overwrite:
        raise Invalid(f"{out} exists (pass overwrite to replace it)", field="out")
    progress = progress or (lambda n: None)
    unpaired = task_type_of(snapshot.project).unpaired
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        counts = {}
        done = 0
        for split in SPLITS:
            report = lambda n, base=done: progress(base + n)  # noqa: E731
            counts[split] = writer.write_split(tmp, snapshot, split, style, meta, report)
            done += counts[split]
        if writer.finish is not None:
            writer.finish(tmp)
        ties = {split: 0 for split in SPLITS}
        sft = None
        if writer.preference and unpaired:
            (tmp / SFT_FOLDER).mkdir()
            sft = {split: _write_lines(tmp / SFT_FOLDER / f"{split}.jsonl",
                                       sft_lines(snapshot, split=split, style=style), lambda n: None)
                   for split in SPLITS}
        elif writer.preference:
            ties = _write_ties(tmp / TIES_FILE, snapshot, style)
        manifest = {
            "project": snapshot.project.slug, "snapshot_version": snapshot.version,
            "content_hash": snapshot.content_hash, "format": fmt, "style": style,
            "rows": counts, "filters": filters_public(snapshot.filters),
            "code_version": snapshot.code_version,
            "ties": {"file": TIES_FILE if any(ties.values()) else None, "rows": ties},
        }
        if sft is not None:
            manifest["sft"] = {"folder": SFT_FOLDER, "rows": sft}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        (tmp / "datasheet.md").write_text(datasheet_markdown(snapshot, manifest))
        _replace(tmp, out)
        progress(done)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_ties(path: Path, snapshot: DatasetSnapshot, style: str) -> dict[str, int]:
    """The snapshot's ties, one JSON line each, in their own file (only when there are any)."""
    counts = {split: 0 for split in SPLITS}
    handle = None
    try:
        for split, line in tie_lines(snapshot, style=style):
            if handle is None:
                handle = path.open("w", encoding="utf-8")
            handle.write(line)
            counts[split] += 1
    finally:
        if handle is not None:
            handle.close()
    return counts


def _parquet_to_hf(folder: Path) -> None:
    """A Hugging Face `datasets` folder (save_to_disk) built from the parquet files."""
    import datasets  # heavy: loaded only by the formats that need it
    import pyarrow.parquet as pq

    splits: dict[str, datasets.Dataset] = {}
    shards: dict[str, int | None] = {}
    for split in SPLITS:
        source = folder / f"{split}.parquet"
        if pq.ParquetFile(source).metadata.num_rows == 0:
            # A small project can have an empty split, which from_parquet
            # refuses ("corresponds to no data") and which, saved with no shard
            # file, load_from_disk cannot read back: an empty table, one shard.
            splits[split] = datasets.Dataset(datasets.table.InMemoryTable(pq.read_table(source)))
            shards[split] = 1
            continue
        splits[split] = datasets.Dataset.from_parquet(
            str(source), cache_dir=str(folder / ".cache"), keep_in_memory=False)
        shards[split] = None
    datasets.DatasetDict(splits).save_to_disk(str(folder / "dataset"), num_shards=shards)
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
