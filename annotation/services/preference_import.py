"""Importing existing preference data as pre-labeled items.

The whole file is parsed and checked first; then everything is written in one
transaction, so a bad line imports nothing. Each record becomes a prompt (reused
when the same prompt exists), responses with source "imported", one item and
one annotation by the project's import account with source "imported".

A raw annotation export (one row per annotation) is imported label by label:
each pseudonymous labeler becomes an import-only account of the target
project (no password, inactive), so per-labeler agreement, consensus and the
snapshot filters work on the imported labels as on the originals.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import cast

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotation.datasets.readers import (
    PreferenceRecord,
    RawAnnotation,
    preferences_format,
    preferences_read,
)
from annotation.errors import DomainError, Invalid
from annotation.models import (
    Annotation,
    AnnotationSource,
    ComparisonItem,
    ItemResponse,
    Project,
    Prompt,
    Response,
    ResponseSource,
)
from annotation.splits import prompt_hash, split_for_hash
from annotation.task_types import task_type_of
from annotation.validation import MAX_TEXT, label_clean

IMPORT_USERNAME = "palate-import"
BATCH = 1000
MAX_RECORDS = 1_000_000


@dataclass(frozen=True)
class PreferenceImportResult:
    """``items`` created and ``duplicates`` skipped, ``annotations`` created (one
    per item for pre-labeled formats); for raw imports also the annotation rows
    skipped with their items or as repeats."""

    items: int
    duplicates: int
    prompts_created: int
    annotations: int = 0
    annotations_skipped: int = 0
    format: str = ""

    def as_dict(self) -> dict:
        return {"format": self.format, "created": self.items, "skipped": self.duplicates,
                "prompts_created": self.prompts_created, "annotations": self.annotations,
                "annotations_skipped": self.annotations_skipped}


def preferences_import_file(*, project: Project, path: Path, fmt: str = "auto",
                            relabel: bool = False, progress=None) -> PreferenceImportResult:
    """Import a JSONL or Parquet file of any supported format (all or nothing);
    ``progress(done, total)`` after each batch of items written (pre-labeled
    formats; a raw import reports once, at its end)."""
    chosen = preferences_format(path, fmt=fmt)
    records = preferences_read(path, fmt=chosen)
    if chosen == "raw":
        # A raw file's reader yields RawAnnotation records (preferences_read).
        result = raw_annotations_import(project=project, records=cast(Iterable[RawAnnotation], records),
                                        relabel=relabel)
        if progress is not None:
            progress(result.items + result.duplicates, result.items + result.duplicates)
    else:
        # Every other format's reader yields PreferenceRecord records.
        result = preferences_import(project=project, records=cast(Iterable[PreferenceRecord], records),
                                    relabel=relabel, progress=progress)
    return replace(result, format=chosen)


def importer_user():
    """The account imported labels are attributed to; it cannot log in."""
    user, created = get_user_model().objects.get_or_create(
        username=IMPORT_USERNAME, defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fit(project: Project, record: PreferenceRecord) -> PreferenceRecord:
    """Match the record to the project's response count."""
    for index, text in enumerate(record.responses):
        if len(text) > MAX_TEXT:
            raise Invalid(f"longer than {MAX_TEXT} characters", line=record.line,
                          field=f"responses[{index}]")
    if len({_text_key(t) for t in record.responses}) != len(record.responses):
        raise Invalid("two responses are identical", line=record.line, field="responses")
    k = project.num_responses
    if len(record.responses) == k:
        return record
    reduced = task_type_of(project).reduce_ranks(record.ranking)
    if reduced is not None:
        pick, ranking = reduced
        models = [record.models[i] for i in pick] if record.models else []
        return PreferenceRecord(line=record.line, messages=record.messages,
                                responses=[record.responses[i] for i in pick], ranking=ranking,
                                models=models)
    raise Invalid(f"has {len(record.responses)} responses; this project compares {k}",
                  line=record.line, field="responses")


def _label(project: Project, order: list[int], ranking: list[int]) -> dict:
    """The annotation in canonical order (``order[c]`` is the record index at position c)."""
    return task_type_of(project).label_from_ranks([ranking[i] for i in order])


def preferences_import(*, project: Project, records: Iterable[PreferenceRecord],
                       relabel: bool = False, progress=None) -> PreferenceImportResult:
    """Import records (all or nothing). Items already in the project with the
    same prompt and responses, or repeated in the file, are skipped and counted.
    With ``relabel`` the items also enter the labeling queue for more labels."""
    task_type_of(project).label_from_ranks([1] * project.num_responses)  # refuses unpaired types
    fitted = []
    for record in records:
        fitted.append(_fit(project, record))
        if len(fitted) > MAX_RECORDS:
            raise Invalid(f"at most {MAX_RECORDS} records per import", line=record.line)
    with transaction.atomic():
        return _write(project, fitted, relabel, progress)


def _existing_keys(project: Project, hashes: set[str]) -> set[tuple]:
    keys: dict[int, list[str]] = {}
    rows = ItemResponse.objects.filter(item__project=project, item__prompt__content_hash__in=hashes)
    for item_id, digest, text in rows.values_list("item_id", "item__prompt__content_hash",
                                                  "response__text").iterator(chunk_size=5000):
        keys.setdefault(item_id, [digest]).append(_text_key(text))
    return {(v[0], frozenset(v[1:])) for v in keys.values()}


def _write(project: Project, records: list[PreferenceRecord], relabel: bool,
           progress=None) -> PreferenceImportResult:
    importer = importer_user()
    hashes = {prompt_hash(r.messages) for r in records}
    prompts = {p.content_hash: p for p in Prompt.objects.filter(project=project,
                                                                content_hash__in=hashes)}
    new_prompts = [Prompt(project=project, messages=r.messages, content_hash=h,
                          split=split_for_hash(h, test_fraction=project.test_fraction))
                   for h, r in {prompt_hash(r.messages): r for r in records}.items()
                   if h not in prompts]
    for prompt in Prompt.objects.bulk_create(new_prompts, batch_size=BATCH):
        prompts[prompt.content_hash] = prompt
    seen = _existing_keys(project, hashes)
    todo = []
    for record in records:
        digest = prompt_hash(record.messages)
        key = (digest, frozenset(_text_key(t) for t in record.responses))
        if key in seen:
            continue
        seen.add(key)
        todo.append((prompts[digest], record))
    skipped = len(records) - len(todo)
    for start in range(0, len(todo), BATCH):
        _write_batch(project, todo[start:start + BATCH], importer, relabel)
        if progress is not None:  # rows done: the repeats skipped, and the items written so far
            progress(skipped + min(start + BATCH, len(todo)), len(records))
    return PreferenceImportResult(items=len(todo), duplicates=len(records) - len(todo),
                                  prompts_created=len(new_prompts), annotations=len(todo))


def _write_batch(project, batch, importer, relabel: bool) -> None:
    orders, responses, items = [], [], []
    for prompt, record in batch:
        # Canonical order by content hash: independent of which one was chosen,
        # so "A" is not systematically the better response.
        order = sorted(range(len(record.responses)), key=lambda i: _text_key(record.responses[i]))
        orders.append(order)
        for i in order:
            responses.append(Response(prompt=prompt, text=record.responses[i],
                                      source=ResponseSource.IMPORTED,
                                      model_name=record.models[i] if record.models else ""))
        items.append(ComparisonItem(project=project, prompt=prompt, assigned_count=1,
                                    submitted_count=1, is_open=relabel and project.overlap > 1))
    responses = Response.objects.bulk_create(responses)
    items = ComparisonItem.objects.bulk_create(items)
    slots, annotations, cursor = [], [], 0
    for item, order, (_, record) in zip(items, orders, batch, strict=True):
        for position in range(len(order)):
            slots.append(ItemResponse(item=item, response=responses[cursor], position=position))
            cursor += 1
        annotations.append(Annotation(
            project=project, item=item, labeler=importer, source=AnnotationSource.IMPORTED,
            display_order=list(range(len(order))), idempotency_key=f"import-{item.pk}",
            **_label(project, order, record.ranking)))
    ItemResponse.objects.bulk_create(slots)
    Annotation.objects.bulk_create(annotations)


# Raw annotation exports ----------------------------------------------------------
IMPORT_PREFIX = "import:"
# A raw row may not claim to be from the future: its label would stay out of
# every snapshot (they take labels made before they were built) until then.
CLOCK_SLACK = timedelta(minutes=5)


def import_username(project: Project, pseudonym: str) -> str:
    """The import account of one pseudonym in one project. ':' is outside what
    Django's username validator allows, so no person's account can have it."""
    return f"{IMPORT_PREFIX}{project.pk}:{pseudonym}"


@dataclass
class _RawItem:
    first: RawAnnotation
    rows: list[RawAnnotation]


def _raw_check(project: Project, row: RawAnnotation, latest) -> dict:
    """The row's label checked against the project, as Annotation fields."""
    if len(row.responses) != project.num_responses:
        raise Invalid(f"has {len(row.responses)} responses; this project compares "
                      f"{project.num_responses}", line=row.line, field="responses")
    for index, text in enumerate(row.responses):
        if len(text) > MAX_TEXT:
            raise Invalid(f"longer than {MAX_TEXT} characters", line=row.line,
                          field=f"responses[{index}].text")
    if len({_text_key(t) for t in row.responses}) != len(row.responses):
        raise Invalid("two responses are identical", line=row.line, field="responses")
    if row.created_at is not None and row.created_at > latest:
        raise Invalid("is in the future", line=row.line, field="created_at")
    try:
        label = label_clean(project, {k: v for k, v in row.label.items() if v is not None})
    except DomainError as error:
        error.line = row.line
        raise
    # Model labels stay model labels (snapshots can leave them out); everything
    # else was labeled elsewhere and is marked imported.
    source = AnnotationSource.MODEL if row.source == "model" else AnnotationSource.IMPORTED
    return {**label, "display_order": row.display_order, "source": source}


def raw_annotations_import(*, project: Project, records: Iterable[RawAnnotation],
                           relabel: bool = False) -> PreferenceImportResult:
    """Import a raw annotation export (all or nothing).

    Rows are grouped into items by their source item id; every row of an item
    must show the same prompt and responses. An item whose prompt and
    responses are already in the project is skipped with all its rows; a row
    repeating an (item, labeler) pair is skipped when it says the same, and is
    an error when it contradicts the first. Prompts and items are created in
    the source's (prompt id, item id) order and annotations in file order, so
    a snapshot of the imported project lists its pairs in the source's order.
    """
    latest = timezone.now() + CLOCK_SLACK
    items: dict[str, _RawItem] = {}
    labels: dict[tuple[str, str], dict] = {}
    todo: list[tuple[RawAnnotation, dict]] = []
    repeats = count = 0
    for row in records:
        if not isinstance(row, RawAnnotation):
            raise Invalid("is not a raw annotation row", line=getattr(row, "line", None))
        count += 1
        if count > MAX_RECORDS:
            raise Invalid(f"at most {MAX_RECORDS} rows per import", line=row.line)
        label = _raw_check(project, row, latest)
        group = items.get(row.item_key)
        if group is None:
            items[row.item_key] = _RawItem(first=row, rows=[])
        elif group.first.messages != row.messages:
            raise Invalid(f"differs from the prompt of item {row.item_key} on line "
                          f"{group.first.line}", line=row.line, field="prompt")
        elif (group.first.responses, group.first.models) != (row.responses, row.models):
            raise Invalid(f"differ from the responses of item {row.item_key} on line "
                          f"{group.first.line}", line=row.line, field="responses")
        key = (row.item_key, row.labeler)
        if key in labels:
            if labels[key] != label:
                raise Invalid(f"labeler {row.labeler} labeled item {row.item_key} differently "
                              "on an earlier line", line=row.line, field="labeler")
            repeats += 1
            continue
        labels[key] = label
        items[row.item_key].rows.append(row)
        todo.append((row, label))
    with transaction.atomic():
        return _raw_write(project, items, todo, repeats, relabel)


def _import_users(project: Project, pseudonyms: set[str]) -> dict[str, object]:
    User = get_user_model()
    names = {import_username(project, p): p for p in pseudonyms}
    existing = {u.username: u for u in User.objects.filter(username__in=names)}
    new = []
    for name in sorted(set(names) - set(existing)):
        user = User(username=name, is_active=False)
        user.set_unusable_password()
        new.append(user)
    User.objects.bulk_create(new, batch_size=BATCH)
    if new:
        existing = {u.username: u for u in User.objects.filter(username__in=names)}
    return {names[name]: user for name, user in existing.items()}


def _raw_write(project: Project, items: dict[str, _RawItem],
               todo: list[tuple[RawAnnotation, dict]], repeats: int,
               relabel: bool) -> PreferenceImportResult:
    groups = sorted(items.values(), key=lambda g: (g.first.order, g.first.line))
    hashes = {prompt_hash(g.first.messages) for g in groups}
    seen = _existing_keys(project, hashes)
    fresh = []
    for group in groups:
        key = (prompt_hash(group.first.messages),
               frozenset(_text_key(t) for t in group.first.responses))
        if key not in seen:
            fresh.append(group)
    prompts = {p.content_hash: p for p in Prompt.objects.filter(project=project,
                                                                content_hash__in=hashes)}
    new_prompts: dict[str, Prompt] = {}
    for group in fresh:  # in source order: prompt ids keep the source's order
        digest = prompt_hash(group.first.messages)
        if digest not in prompts and digest not in new_prompts:
            new_prompts[digest] = Prompt(
                project=project, messages=group.first.messages, content_hash=digest,
                split=split_for_hash(digest, test_fraction=project.test_fraction))
    for prompt in Prompt.objects.bulk_create(list(new_prompts.values()), batch_size=BATCH):
        prompts[prompt.content_hash] = prompt
    item_of: dict[str, ComparisonItem] = {}
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start:start + BATCH]
        item_of.update(_raw_items(project, prompts, batch, relabel))
    kept = [(row, label) for row, label in todo if row.item_key in item_of]
    users = _import_users(project, {row.labeler for row, _ in kept})
    for start in range(0, len(kept), BATCH):
        _raw_annotations(project, kept[start:start + BATCH], item_of, users)
    return PreferenceImportResult(
        items=len(fresh), duplicates=len(groups) - len(fresh),
        prompts_created=len(new_prompts), annotations=len(kept),
        annotations_skipped=repeats + len(todo) - len(kept))


def _raw_items(project: Project, prompts: dict[str, Prompt], batch: list[_RawItem],
               relabel: bool) -> dict[str, ComparisonItem]:
    """Items, responses and slots of a batch, in the source's canonical order
    (the labels refer to it)."""
    responses, items = [], []
    for group in batch:
        prompt = prompts[prompt_hash(group.first.messages)]
        responses += [Response(prompt=prompt, text=text, source=ResponseSource.IMPORTED,
                               model_name=model)
                      for text, model in zip(group.first.responses, group.first.models,
                                             strict=True)]
        labeled = len(group.rows)
        items.append(ComparisonItem(project=project, prompt=prompt, assigned_count=labeled,
                                    submitted_count=labeled,
                                    is_open=relabel and labeled < project.overlap))
    responses = Response.objects.bulk_create(responses)
    items = ComparisonItem.objects.bulk_create(items)
    slots, cursor = [], 0
    for item, group in zip(items, batch, strict=True):
        for position in range(len(group.first.responses)):
            slots.append(ItemResponse(item=item, response=responses[cursor], position=position))
            cursor += 1
    ItemResponse.objects.bulk_create(slots)
    return {group.first.item_key: item for group, item in zip(batch, items, strict=True)}


def _raw_annotations(project: Project, batch, item_of, users) -> None:
    rows = []
    for row, label in batch:
        item = item_of[row.item_key]
        rows.append(Annotation(project=project, item=item, labeler=users[row.labeler],
                               idempotency_key=f"import-{item.pk}", **label))
    created = Annotation.objects.bulk_create(rows)
    # created_at is auto_now_add, so bulk_create stamped "now": put back the
    # source's times (date filters and "labels made before the snapshot" then
    # behave as in the source project).
    dated = []
    for annotation, (row, _) in zip(created, batch, strict=True):
        if row.created_at is not None:
            annotation.created_at = row.created_at
            dated.append(annotation)
    Annotation.objects.bulk_update(dated, ["created_at"], batch_size=BATCH)
