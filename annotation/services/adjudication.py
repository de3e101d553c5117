"""Admins' decisions on disputed items, and the override they apply wherever consensus is used.

The latest Adjudication of an item is its label: snapshots take their pairs
from it instead of the labelers' consensus (see adjudicated_item_outcomes),
and the item leaves the adjudication queue.
"""


from django.db import transaction

from annotation.errors import Invalid
from annotation.models import Adjudication, ComparisonItem, ItemConsensus, Project
from annotation.task_types import task_type_of
from audit.services import audit_record

MAX_NOTE = 2000


def adjudication_clean(project: Project, data: dict) -> dict:
    """The decision fields, checked against the task type (errors name the field)."""
    note = data.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise Invalid(f"must be text of at most {MAX_NOTE} characters", field="note")
    return task_type_of(project).adjudication_clean(project, data) | {"note": note}


def item_adjudicate(*, project: Project, item: ComparisonItem, decided_by, data: dict) -> Adjudication:
    """Record an admin's decision for ``item``; it overrides the consensus from now on."""
    if item.project_id != project.pk:
        raise Invalid("the item is not in this project", field="item")
    if item.is_gold:
        raise Invalid("gold items have an expected answer and are not adjudicated", field="item")
    cleaned = adjudication_clean(project, data)
    with transaction.atomic():
        adjudication = Adjudication.objects.create(project=project, item=item,
                                                   decided_by=decided_by, **cleaned)
        ItemConsensus.objects.filter(item=item).update(needs_adjudication=False)
        # The note is free text and stays out of the log (it may name people).
        audit_record(decided_by, "item.adjudicate", item, project=project,
                     adjudication_id=adjudication.pk, strength=adjudication.strength,
                     ranking=adjudication.ranking,
                     **({} if adjudication.feedback is None else {"feedback": adjudication.feedback}))
    return adjudication


def adjudication_outcomes(adjudication: Adjudication, task) -> list:
    """What an adjudicated item contributes to a snapshot: the admin's label as a
    single, unanimous vote (pairs, or a feedback type's labeled completion)."""
    return task.adjudication_outcomes(adjudication)


def adjudicated_item_outcomes(*, project: Project, until=None) -> dict[int, list]:
    """Per adjudicated item, the outcomes of its latest decision made up to ``until``
    (a snapshot's creation time, so a rebuild of the same snapshot is unchanged)."""
    rows = Adjudication.objects.filter(project=project)
    if until is not None:
        rows = rows.filter(created_at__lte=until)
    latest: dict[int, Adjudication] = {}
    for adjudication in rows.order_by("item_id", "-created_at", "-pk").only(
            "item_id", "strength", "ranking", "feedback"):
        latest.setdefault(adjudication.item_id, adjudication)
    task = task_type_of(project)
    return {item_id: adjudication_outcomes(a, task) for item_id, a in latest.items()}
