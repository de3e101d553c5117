"""Many comparison items in one request or one file: all or nothing.

An entry names a stored prompt (``prompt_id``) or carries its own prompt
(``prompt`` text or ``messages``), which is created once — or reused when the
project already holds the same prompt. An entry whose prompt and response
texts repeat an existing item (or an earlier entry) is a duplicate: it is
skipped and answers that item's id, so uploading a file twice adds nothing.
"""

from dataclasses import dataclass, field

from django.db import transaction

from annotation.errors import Invalid
from annotation.models import ComparisonItem, ItemResponse, Project, Prompt, Response, ResponseSource
from annotation.services.items import ResponseInput, _response_check
from annotation.services.prompts import PromptInput, prompt_create_many, prompt_input_from_dict
from annotation.services.queue_priority import PRIORITY_MAX, PRIORITY_MIN
from annotation.validation import gold_answer_clean
from audit.services import audit_record

MAX_ITEMS = 10_000


@dataclass(frozen=True)
class ItemEntry:
    responses: list[ResponseInput]
    prompt: PromptInput | None = None
    prompt_id: int | None = None
    priority: int = 0
    is_gold: bool = False
    gold_answer: dict | None = None
    line: int | None = None


@dataclass(frozen=True)
class ItemsResult:
    """``ids``: one per entry, in order (a duplicate answers the item it repeats)."""

    created: int
    duplicates: int
    prompts_created: int
    ids: list[int] = field(default_factory=list)


def _response_from(value, where: str) -> ResponseInput:
    if isinstance(value, str):
        return ResponseInput(text=value)
    if not isinstance(value, dict):
        raise Invalid("each response is a text or {text, model_name}", field=where)
    text = value.get("text", value.get("response"))
    model = value.get("model_name", value.get("model")) or ""
    source = value.get("source", ResponseSource.MODEL)
    if not isinstance(model, str) or len(model) > 200:
        raise Invalid("must be a text of at most 200 characters", field=f"{where}.model_name")
    metadata = value.get("metadata", {})
    if not isinstance(metadata, dict):
        raise Invalid("must be an object", field=f"{where}.metadata")
    return ResponseInput(text=text, model_name=model, source=source, metadata=metadata)  # type: ignore[arg-type]  # text: checked by item_create


def item_entry_from_dict(data, *, line: int | None = None, field_prefix: str = "") -> ItemEntry:
    """``{"prompt" | "messages" | "prompt_id", "responses": [text | {text, model_name}],
    "models": [...]?, "priority"?, "is_gold"?, "gold_answer"?}``; errors name the field
    (with ``field_prefix``, e.g. ``[3].``) and the line."""
    try:
        if not isinstance(data, dict):
            raise Invalid("each entry must be an object", field=field_prefix.rstrip(".") or None)
        prompt, prompt_id = None, None
        if "prompt_id" in data and "prompt" not in data and "messages" not in data:
            prompt_id = data["prompt_id"]
            if isinstance(prompt_id, bool) or not isinstance(prompt_id, int):
                raise Invalid("must be an integer id", field=f"{field_prefix}prompt_id")
        else:
            prompt = prompt_input_from_dict(
                {k: data[k] for k in ("prompt", "messages", "external_id", "id", "metadata")
                 if k in data}, field_prefix=field_prefix)
        raw = data.get("responses")
        if not isinstance(raw, list) or not raw:
            raise Invalid("needs a list of responses", field=f"{field_prefix}responses")
        models = data.get("models")
        if models is not None and (not isinstance(models, list) or len(models) != len(raw)):
            raise Invalid("must be a list with one model name per response",
                          field=f"{field_prefix}models")
        responses = []
        for index, value in enumerate(raw):
            where = f"{field_prefix}responses[{index}]"
            response = _response_from(value, where)
            if models is not None and not response.model_name:
                response = ResponseInput(text=response.text, model_name=str(models[index] or ""),
                                         source=response.source, metadata=response.metadata)
            try:
                _response_check(index, response)
            except Invalid as error:
                error.field = f"{field_prefix}{error.field}"
                raise
            responses.append(response)
        priority = data.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int) \
                or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise Invalid("must be a 32-bit integer", field=f"{field_prefix}priority")
        is_gold = data.get("is_gold", False)
        if not isinstance(is_gold, bool):
            raise Invalid("must be true or false", field=f"{field_prefix}is_gold")
        return ItemEntry(responses=responses, prompt=prompt, prompt_id=prompt_id,
                         priority=priority, is_gold=is_gold,
                         gold_answer=data.get("gold_answer"), line=line)
    except Invalid as error:
        error.line = line
        raise


def _where(entry: ItemEntry, index: int, name: str, prefixed: bool) -> dict:
    return {"field": f"[{index}].{name}" if prefixed else name, "line": entry.line}


def _existing_items(project: Project, prompt_ids: set[int]) -> dict[tuple, int]:
    """(prompt id, response texts in order) -> item id, for the prompts involved."""
    texts: dict[int, dict[int, str]] = {}
    prompt_of: dict[int, int] = {}
    for item_id, prompt_id, position, text in ItemResponse.objects.filter(
            item__project=project, item__prompt_id__in=prompt_ids).values_list(
            "item_id", "item__prompt_id", "position", "response__text"):
        texts.setdefault(item_id, {})[position] = text
        prompt_of[item_id] = prompt_id
    return {(prompt_of[i], tuple(t[p] for p in sorted(t))): i for i, t in texts.items()}


@transaction.atomic
def items_create_many(*, project: Project, entries: list[ItemEntry], actor=None,
                      limit: int | None = MAX_ITEMS, prefixed: bool = True) -> ItemsResult:
    """Create the entries' prompts and items in one transaction. Everything is
    checked before the first write; a bad entry raises Invalid naming its index
    (``prefixed``) or line and its field, and nothing is written."""
    if limit is not None and len(entries) > limit:
        raise Invalid(f"at most {limit} items per request")
    if not entries:
        raise Invalid("send at least one item")
    gold_answers: list[dict | None] = []
    for index, entry in enumerate(entries):
        if len(entry.responses) != project.num_responses:
            raise Invalid(f"this project compares {project.num_responses} responses, "
                          f"got {len(entry.responses)}", **_where(entry, index, "responses", prefixed))
        try:
            if entry.is_gold:
                gold_answers.append(gold_answer_clean(project, entry.gold_answer))
            elif entry.gold_answer is not None:
                raise Invalid("only gold items carry an expected answer")
            else:
                gold_answers.append(None)
        except Invalid as error:
            raise Invalid(error.message, **_where(entry, index, "gold_answer", prefixed)) from None
    named = {e.prompt_id for e in entries if e.prompt_id is not None}
    found = set(Prompt.objects.filter(project=project, pk__in=named).values_list("pk", flat=True))
    for index, entry in enumerate(entries):
        if entry.prompt_id is not None and entry.prompt_id not in found:
            # Same answer for a missing prompt and another project's: no oracle.
            raise Invalid("no such prompt in this project", **_where(entry, index, "prompt_id", prefixed))
    inline = [e.prompt for e in entries if e.prompt is not None]
    made = prompt_create_many(project=project, entries=inline, limit=None)
    inline_ids = iter(made.ids)
    prompt_ids = [e.prompt_id if e.prompt_id is not None else next(inline_ids) for e in entries]

    known: dict = _existing_items(project, set(prompt_ids))  # and ("new", index) for this batch's
    ids: list = []  # item id per entry; None until known
    fresh: list[int] = []  # indexes of entries that become new items
    for index, (entry, prompt_id) in enumerate(zip(entries, prompt_ids, strict=True)):
        key = (prompt_id, tuple(r.text for r in entry.responses))
        if key in known:
            hit = known[key]
            ids.append(hit if isinstance(hit, int) else None)  # resolved below
            continue
        known[key] = ("new", index)
        ids.append(None)
        fresh.append(index)

    responses = [Response(prompt_id=prompt_ids[i], text=r.text, source=r.source,
                          model_name=r.model_name, sampling=r.sampling, metadata=r.metadata)
                 for i in fresh for r in entries[i].responses]
    Response.objects.bulk_create(responses, batch_size=1000)
    items = [ComparisonItem(project=project, prompt_id=prompt_ids[i], priority=entries[i].priority,
                            is_gold=entries[i].is_gold, gold_answer=gold_answers[i]) for i in fresh]
    ComparisonItem.objects.bulk_create(items, batch_size=1000)
    k = project.num_responses
    ItemResponse.objects.bulk_create(
        (ItemResponse(item=item, response=responses[n * k + position], position=position)
         for n, item in enumerate(items) for position in range(k)), batch_size=1000)
    for n, index in enumerate(fresh):
        ids[index] = items[n].pk
    # A duplicate of an entry earlier in this batch answers that entry's new id.
    for index, entry in enumerate(entries):
        if ids[index] is None:
            origin = known[(prompt_ids[index], tuple(r.text for r in entry.responses))]
            ids[index] = ids[origin[1]]
    result = ItemsResult(created=len(items), duplicates=len(entries) - len(items),
                         prompts_created=made.created, ids=ids)
    if actor is not None:
        audit_record(actor, "items.import", project, created=result.created,
                     duplicates=result.duplicates, prompts_created=result.prompts_created,
                     gold=sum(1 for i in fresh if entries[i].is_gold))
    return result
