from dataclasses import dataclass, field

from django.db import transaction

from annotation.errors import Invalid
from annotation.models import Project, Prompt
from annotation.splits import prompt_hash, split_for_hash
from annotation.validation import messages_clean
from audit.services import audit_record

MAX_BULK = 10_000


@dataclass(frozen=True)
class PromptInput:
    messages: list[dict]
    external_id: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PromptImportResult:
    """Counts, and ``ids``: one per entry in the given order — the new prompt's,
    or for a duplicate the prompt it repeats (stored, or earlier in the batch)."""

    created: int
    duplicates: int
    ids: list[int] = field(default_factory=list)


def prompt_input_from_dict(data, *, line: int | None = None, field_prefix: str = "") -> PromptInput:
    """Accepts {"prompt": str} or {"messages": [...]}, optional external_id/id and metadata."""
    try:
        if not isinstance(data, dict):
            raise Invalid("each entry must be an object")
        if "messages" in data:
            messages = messages_clean(data["messages"], field=f"{field_prefix}messages")
        elif "prompt" in data:
            messages = messages_clean(data["prompt"], field=f"{field_prefix}prompt")
        else:
            raise Invalid("needs 'prompt' (text) or 'messages' (list)", field=f"{field_prefix}prompt")
        external_id = data.get("external_id", data.get("id"))
        if external_id is not None:
            external_id = str(external_id).strip() or None
            if external_id and len(external_id) > 200:
                raise Invalid("longer than 200 characters", field=f"{field_prefix}external_id")
        metadata = data.get("metadata", {})
        if not isinstance(metadata, dict):
            raise Invalid("must be an object", field=f"{field_prefix}metadata")
    except Invalid as error:
        error.line = line
        raise
    return PromptInput(messages=messages, external_id=external_id, metadata=metadata)


@transaction.atomic
def prompt_create_many(
    *, project: Project, entries: list[PromptInput], limit: int | None = MAX_BULK, actor=None
) -> PromptImportResult:
    """Create prompts in one transaction; exact duplicates (same content or same
    external id, in the batch or already stored) are skipped and counted. With
    an ``actor`` (a person uploading through the API or a page) the import is
    audited."""
    if limit is not None and len(entries) > limit:
        raise Invalid(f"at most {limit} prompts per request")
    hashes = {prompt_hash(e.messages) for e in entries}
    external_ids = {e.external_id for e in entries if e.external_id}
    stored = Prompt.objects.filter(project=project)
    # A stored prompt's id, or ("new", index in ``rows``) for one made in this batch.
    by_hash: dict[str, int | tuple[str, int]] = dict(
        stored.filter(content_hash__in=hashes).values_list("content_hash", "pk"))
    by_external: dict[str | None, int | tuple[str, int]] = dict(
        stored.filter(external_id__in=external_ids).values_list("external_id", "pk"))
    rows: list[Prompt] = []
    # Per entry: a stored prompt's id, or the index in ``rows`` of a new one.
    slots: list[int | tuple[str, int]] = []
    for entry in entries:
        digest = prompt_hash(entry.messages)
        known = by_hash.get(digest)
        if known is None and entry.external_id:
            known = by_external.get(entry.external_id)
        if known is not None:
            slots.append(known)
            continue
        by_hash[digest] = ("new", len(rows))
        if entry.external_id:
            by_external[entry.external_id] = ("new", len(rows))
        slots.append(("new", len(rows)))
        rows.append(
            Prompt(
                project=project,
                external_id=entry.external_id,
                messages=entry.messages,
                content_hash=digest,
                split=split_for_hash(digest, test_fraction=project.test_fraction),
                metadata=entry.metadata,
            )
        )
    Prompt.objects.bulk_create(rows, batch_size=1000)
    ids = [rows[slot[1]].pk if isinstance(slot, tuple) else slot for slot in slots]
    result = PromptImportResult(created=len(rows), duplicates=len(entries) - len(rows), ids=ids)
    if actor is not None:
        audit_record(actor, "prompts.import", project, created=result.created,
                     duplicates=result.duplicates)
    return result
