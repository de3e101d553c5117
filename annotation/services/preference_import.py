"""Importing existing preference data as pre-labeled items.

The whole file is parsed and checked first; then everything is written in one
transaction, so a bad line imports nothing. Each record becomes a prompt (reused
when the same prompt exists), responses with source "imported", one item and
one annotation by the project's import account with source "imported".
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.datasets.readers import PreferenceRecord
from annotation.errors import Invalid
from annotation.models import (
    Annotation,
    AnnotationSource,
    ComparisonItem,
    ItemResponse,
    Project,
    Prompt,
    Response,
    ResponseSource,
    TaskType,
)
from annotation.splits import prompt_hash, split_for_hash
from annotation.validation import MAX_TEXT

IMPORT_USERNAME = "palate-import"
BATCH = 1000
MAX_RECORDS = 1_000_000


@dataclass(frozen=True)
class PreferenceImportResult:
    items: int
    duplicates: int
    prompts_created: int


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
    if project.task_type == TaskType.PAIRWISE and len(record.responses) > 2:
        # Scored data into a pairwise project: the best against the worst.
        best = record.ranking.index(min(record.ranking))
        worst = record.ranking.index(max(record.ranking))
        if best == worst:
            worst = 1 if best == 0 else 0
        pick = [best, worst]
        ranking = [1, 1] if record.ranking[best] == record.ranking[worst] else [1, 2]
        models = [record.models[i] for i in pick] if record.models else []
        return PreferenceRecord(line=record.line, messages=record.messages,
                                responses=[record.responses[i] for i in pick], ranking=ranking,
                                models=models)
    raise Invalid(f"has {len(record.responses)} responses; this project compares {k}",
                  line=record.line, field="responses")


def _label(project: Project, order: list[int], ranking: list[int]) -> dict:
    """The annotation in canonical order (``order[c]`` is the record index at position c)."""
    canonical = [ranking[i] for i in order]
    if project.task_type == TaskType.PAIRWISE:
        a, b = canonical
        return {"strength": (a > b) - (a < b), "ranking": None}
    dense = {r: n + 1 for n, r in enumerate(sorted(set(canonical)))}
    return {"strength": None, "ranking": [dense[r] for r in canonical]}


def preferences_import(*, project: Project, records: Iterable[PreferenceRecord],
                       relabel: bool = False) -> PreferenceImportResult:
    """Import records (all or nothing). Items already in the project with the
    same prompt and responses, or repeated in the file, are skipped and counted.
    With ``relabel`` the items also enter the labeling queue for more labels."""
    fitted = []
    for record in records:
        fitted.append(_fit(project, record))
        if len(fitted) > MAX_RECORDS:
            raise Invalid(f"at most {MAX_RECORDS} records per import", line=record.line)
    with transaction.atomic():
        return _write(project, fitted, relabel)


def _existing_keys(project: Project, hashes: set[str]) -> set[tuple]:
    keys: dict[int, list[str]] = {}
    rows = ItemResponse.objects.filter(item__project=project, item__prompt__content_hash__in=hashes)
    for item_id, digest, text in rows.values_list("item_id", "item__prompt__content_hash",
                                                  "response__text").iterator(chunk_size=5000):
        keys.setdefault(item_id, [digest]).append(_text_key(text))
    return {(v[0], frozenset(v[1:])) for v in keys.values()}


def _write(project: Project, records: list[PreferenceRecord], relabel: bool) -> PreferenceImportResult:
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
    for start in range(0, len(todo), BATCH):
        _write_batch(project, todo[start:start + BATCH], importer, relabel)
    return PreferenceImportResult(items=len(todo), duplicates=len(records) - len(todo),
                                  prompts_created=len(new_prompts))


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
