"""Uploaded files into a project: prompts, ready-made comparison items, or
existing preference data — one registry of kinds, read by the API and the
data page alike.

Every kind is all or nothing. A dry run does the whole import inside a
transaction and rolls it back, so its counts (created, duplicates, prompts)
are exactly what the real import will report, and it returns the first rows
as they will be stored. Rows are written in chunks inside that one
transaction, reporting the rows done after each (``progress``): a large file
imported by a worker (annotation/services/upload_jobs.py) shows how far it is.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.db import transaction

from annotation.datasets.readers import RawAnnotation, preferences_format, preferences_read
from annotation.errors import Forbidden, Invalid
from annotation.importers import items_read, prompts_read
from annotation.models import Project
from annotation.services.items_bulk import ItemsResult, items_create_many
from annotation.services.preference_import import preferences_import_file
from annotation.services.prompts import PromptImportResult, prompt_create_many
from audit.services import audit_record

PREVIEW_ROWS = 10
CHUNK_ROWS = 1000  # rows written between two progress reports

Progress = Callable[[int, int], None]  # (rows done, rows in all)


def _no_progress(done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class UploadResult:
    kind: str
    format: str
    rows: int
    created: int
    skipped: int
    prompts_created: int
    annotations: int = 0
    annotations_skipped: int = 0
    preview: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "format": self.format, "rows": self.rows,
                "created": self.created, "skipped": self.skipped,
                "prompts_created": self.prompts_created, "annotations": self.annotations,
                "annotations_skipped": self.annotations_skipped, "preview": self.preview}


@dataclass(frozen=True)
class UploadKind:
    label: str
    suffixes: tuple[str, ...]
    run: Callable[..., UploadResult]
    help: str


def _turns(messages: list[dict]) -> list[dict]:
    return [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages]


def _prompts(*, project: Project, path: Path, actor, allow_gold: bool, progress: Progress = _no_progress,
             **_) -> UploadResult:
    entries = prompts_read(path)
    created = duplicates = 0
    progress(0, len(entries))
    # Chunks of one transaction: a duplicate of a prompt of an earlier chunk
    # is found stored and counted, exactly as in one call.
    for start in range(0, len(entries), CHUNK_ROWS):
        chunk = prompt_create_many(project=project, entries=entries[start:start + CHUNK_ROWS], limit=None)
        created, duplicates = created + chunk.created, duplicates + chunk.duplicates
        progress(min(start + CHUNK_ROWS, len(entries)), len(entries))
    if actor is not None:
        audit_record(actor, "prompts.import", project, created=created, duplicates=duplicates)
    result = PromptImportResult(created=created, duplicates=duplicates, ids=[])
    preview = [{"line": None, "messages": _turns(e.messages), "external_id": e.external_id,
                "metadata": e.metadata} for e in entries[:PREVIEW_ROWS]]
    return UploadResult(kind="prompts", format=path.suffix.lstrip(".").lower(), rows=len(entries),
                        created=result.created, skipped=result.duplicates,
                        prompts_created=result.created, preview=preview)


def _items(*, project: Project, path: Path, actor, allow_gold: bool, progress: Progress = _no_progress,
           **_) -> UploadResult:
    entries = items_read(path)
    gold = next((e for e in entries if e.is_gold), None)
    if gold is not None and not allow_gold:
        raise Forbidden("only project admins add gold items", field="is_gold")
    if not entries:
        raise Invalid("the file has no rows", field="file")
    created = duplicates = prompts_created = 0
    progress(0, len(entries))
    for start in range(0, len(entries), CHUNK_ROWS):
        chunk = items_create_many(project=project, entries=entries[start:start + CHUNK_ROWS], limit=None,
                                  prefixed=False)
        created, duplicates = created + chunk.created, duplicates + chunk.duplicates
        prompts_created += chunk.prompts_created
        progress(min(start + CHUNK_ROWS, len(entries)), len(entries))
    result = ItemsResult(created=created, duplicates=duplicates, prompts_created=prompts_created, ids=[])
    if actor is not None:
        audit_record(actor, "items.import", project, created=created, duplicates=duplicates,
                     prompts_created=prompts_created, gold=sum(1 for e in entries if e.is_gold))
    preview = [{"line": e.line,
                "messages": _turns(e.prompt.messages) if e.prompt else [],
                "prompt_id": e.prompt_id,
                "responses": [{"text": r.text, "model_name": r.model_name} for r in e.responses],
                "is_gold": e.is_gold, "priority": e.priority} for e in entries[:PREVIEW_ROWS]]
    return UploadResult(kind="items", format=path.suffix.lstrip(".").lower(), rows=len(entries),
                        created=result.created, skipped=result.duplicates,
                        prompts_created=result.prompts_created, preview=preview)


def _preference_preview(path: Path, fmt: str) -> list[dict]:
    rows = []
    for record in islice(preferences_read(path, fmt=fmt), PREVIEW_ROWS):
        row = {"line": record.line, "messages": _turns(record.messages),
               "responses": [{"text": t, "model_name": m} for t, m in
                             zip(record.responses, record.models or [""] * len(record.responses),
                                 strict=False)]}
        if isinstance(record, RawAnnotation):
            row["labeler"] = record.labeler
            row["label"] = record.label
        else:
            row["ranking"] = record.ranking
        rows.append(row)
    return rows


def _preferences(*, project: Project, path: Path, actor, allow_gold: bool, fmt: str = "auto",
                 relabel: bool = False, progress: Progress = _no_progress) -> UploadResult:
    chosen = preferences_format(path, fmt=fmt)
    result = preferences_import_file(project=project, path=path, fmt=chosen, relabel=relabel,
                                     progress=progress)
    if actor is not None:
        audit_record(actor, "preferences.import", project, format=chosen, created=result.items,
                     skipped=result.duplicates, annotations=result.annotations)
    return UploadResult(kind="preferences", format=chosen,
                        rows=result.items + result.duplicates, created=result.items,
                        skipped=result.duplicates, prompts_created=result.prompts_created,
                        annotations=result.annotations,
                        annotations_skipped=result.annotations_skipped,
                        preview=_preference_preview(path, chosen))


KINDS: dict[str, UploadKind] = {
    "prompts": UploadKind("Prompts", (".jsonl", ".ndjson", ".csv", ".parquet"), _prompts,
                          'JSONL {"prompt": …} or {"messages": […]}, optional "id" and "metadata"; '
                          "CSV with a prompt column."),
    "items": UploadKind("Comparison items", (".jsonl", ".ndjson", ".csv", ".parquet"), _items,
                        'JSONL {"prompt": …, "responses": ["…", {"text": …, "model_name": …}]}; '
                        "CSV with prompt, response_1 … response_K and optional model_1 … model_K."),
    "preferences": UploadKind("Preference data (pre-labeled)", (".jsonl", ".ndjson", ".json",
                                                               ".parquet"), _preferences,
                              "TRL prompt/chosen/rejected, Anthropic HH, scored responses or "
                              "Palate's raw export, as JSONL or Parquet."),
}


def upload_kind(kind: str) -> UploadKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise Invalid(f"must be one of {', '.join(KINDS)}", field="kind") from None


def upload_import(*, project: Project, path: Path, kind: str, actor=None, allow_gold: bool = False,
                  fmt: str = "auto", relabel: bool = False, dry_run: bool = False,
                  progress: Progress = _no_progress) -> UploadResult:
    """Import ``path`` as ``kind``; with ``dry_run`` nothing stays written.
    ``progress(done, total)`` is called as chunks of rows are written."""
    chosen = upload_kind(kind)
    path = Path(path)
    if path.suffix.lower() not in chosen.suffixes:
        raise Invalid(f"{chosen.label.lower()} are read from {', '.join(chosen.suffixes)} files",
                      field="file")
    with transaction.atomic():
        result = chosen.run(project=project, path=path, actor=actor, allow_gold=allow_gold,
                            fmt=fmt, relabel=relabel, progress=progress)
        if dry_run:
            transaction.set_rollback(True)
    return result
