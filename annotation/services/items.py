from dataclasses import dataclass, field

from django.db import transaction

from annotation.errors import Invalid
from annotation.models import (
    ComparisonItem,
    ItemResponse,
    Project,
    Prompt,
    Response,
    ResponseSource,
)
from annotation.validation import MAX_TEXT, gold_answer_clean
from audit.services import audit_record


@dataclass(frozen=True)
class ResponseInput:
    text: str
    source: str = ResponseSource.MODEL
    model_name: str = ""
    sampling: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def _response_check(index: int, response: ResponseInput) -> None:
    where = f"responses[{index}]"
    if not isinstance(response.text, str) or not response.text.strip():
        raise Invalid("text must be a non-empty string", field=f"{where}.text")
    if len(response.text) > MAX_TEXT:
        raise Invalid(f"text is longer than {MAX_TEXT} characters", field=f"{where}.text")
    if response.source not in ResponseSource.values:
        raise Invalid(f"source must be one of {', '.join(ResponseSource.values)}",
                      field=f"{where}.source")


@transaction.atomic
def item_create(
    *,
    project: Project,
    prompt: Prompt,
    responses: list[ResponseInput | Response],
    priority: int = 0,
    is_gold: bool = False,
    gold_answer: dict | None = None,
    actor=None,
    via: str = "",
) -> ComparisonItem:
    """A comparison item; ``responses`` are stored in the given (canonical) order.
    A gold item made by a person (``actor``) is audited; imports and generation
    record their own event for the whole batch."""
    if prompt.project_id != project.pk:
        raise Invalid("the prompt belongs to another project", field="prompt")
    if len(responses) != project.num_responses:
        raise Invalid(f"this project compares {project.num_responses} responses, "
                      f"got {len(responses)}", field="responses")
    if is_gold:
        gold_answer = gold_answer_clean(project, gold_answer)
    elif gold_answer is not None:
        raise Invalid("only gold items carry an expected answer", field="gold_answer")
    stored = []
    for index, response in enumerate(responses):
        if isinstance(response, Response):
            if response.prompt_id != prompt.pk:
                raise Invalid("response answers another prompt", field=f"responses[{index}]")
            stored.append(response)
            continue
        _response_check(index, response)
        stored.append(Response.objects.create(
            prompt=prompt, text=response.text, source=response.source,
            model_name=response.model_name, sampling=response.sampling,
            metadata=response.metadata,
        ))
    if len({r.pk for r in stored}) != len(stored):
        raise Invalid("an item cannot compare a response with itself", field="responses")
    item = ComparisonItem.objects.create(
        project=project, prompt=prompt, priority=priority, is_gold=is_gold,
        gold_answer=gold_answer,
    )
    ItemResponse.objects.bulk_create(
        ItemResponse(item=item, response=r, position=i) for i, r in enumerate(stored)
    )
    if is_gold and actor is not None:
        audit_record(actor, "item.gold_create", item, gold_answer=item.gold_answer, via=via)
    return item


@transaction.atomic
def item_set_gold(*, item: ComparisonItem, is_gold: bool, gold_answer: dict | None, actor=None,
                  via: str = "") -> ComparisonItem:
    """Mark or unmark gold (audited, with the answer it replaces). Gold items are
    outside the overlap, so the open flag is recomputed under the row lock."""
    item = ComparisonItem.objects.select_for_update().select_related("project").get(pk=item.pk)
    project = item.project
    previous = {"is_gold": item.is_gold, "gold_answer": item.gold_answer}
    item.is_gold = is_gold
    item.gold_answer = gold_answer_clean(project, gold_answer) if is_gold else None
    item.is_open = (is_gold or item.assigned_count < project.overlap) and item.removed_at is None
    item.save(update_fields=["is_gold", "gold_answer", "is_open"])
    audit_record(actor, "item.gold_change", item, is_gold=item.is_gold, gold_answer=item.gold_answer,
                 previous=previous, via=via)
    return item
