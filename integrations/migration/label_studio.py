"""Label Studio's JSON export, in and out.

The two templates (docs/migration/ has their labeling configs):

- **Pairwise** ("Human Preference collection for RLHF"): task ``data`` holds
  ``prompt``, ``answer1`` and ``answer2``; an annotation's ``result`` holds one
  ``pairwise`` region whose ``value.selected`` is ``"left"`` (answer1 preferred)
  or ``"right"``.
- **Ranker**: task ``data`` holds ``prompt`` and ``items``, a list of
  ``{"id", "title", "body"}``; an annotation's result holds one ``ranker``
  region whose ``value.ranker`` maps the list's name to the item ids, best
  first.

Each export is a JSON array of tasks with their ``annotations``; an annotation
has ``completed_by`` (a Label Studio user id, or an object with one),
``created_at`` and ``was_cancelled`` (a skip: not imported). Written from Label
Studio's documented export format and the two templates' result shapes.
"""

import hashlib
import json
from datetime import datetime

from annotation.datasets.readers import RawAnnotation, hh_parse
from annotation.datasets.rows import labeler_pseudonym, transcript
from annotation.errors import DomainError, Invalid
from annotation.models import Annotation, ComparisonItem, ItemResponse, Project, TaskType
from annotation.validation import messages_clean

PAIRWISE_CONTROL = "comparison"  # <Pairwise name="comparison" toName="answer1,answer2"/>
RANKER_CONTROL = "rank"  # <Ranker name="rank" toName="answers"/>
RANKER_LIST = "answers"  # <List name="answers" value="$items"/>

# The Label Studio template of each task type that has one: a Pairwise tag over
# two answers, or a Ranker over a list. A type not here (feedback, or a new one)
# is refused rather than read through another type's template.
LAYOUTS = {TaskType.PAIRWISE: "pairwise", TaskType.RANKING: "ranker"}


def _layout(project: Project) -> str:
    try:
        return LAYOUTS[project.task_type]
    except KeyError:
        raise Invalid(f"Label Studio files hold pairwise or ranking projects, not "
                      f"{project.get_task_type_display()}", field="project") from None


def _where(error: DomainError, *, line: int, prefix: str) -> DomainError:
    error.line = line
    error.field = f"{prefix}.{error.field}" if error.field else prefix
    return error


def _prompt(value, *, line: int) -> list[dict]:
    if isinstance(value, str) and value.startswith("\n\nHuman:"):
        return hh_parse(value, line=line, name="data.prompt")
    try:
        return messages_clean(value, field="data.prompt")
    except Invalid as error:
        error.line = line
        raise


def _text(value, *, line: int, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("must be a non-empty string", line=line, field=field)
    return value


def _annotator(value, *, line: int, field: str) -> str:
    """A pseudonym for a Label Studio user: its numeric id, never the e-mail."""
    if isinstance(value, dict):
        if "id" in value:
            value = value["id"]
        elif value.get("email"):
            return "ls-" + hashlib.sha256(str(value["email"]).lower().encode()).hexdigest()[:12]
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise Invalid("must be the annotator's user id", line=line, field=field)
    return f"ls-{value}"


def _created_at(value, *, line: int, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("must be an ISO 8601 time", line=line, field=field) from None
    if parsed.tzinfo is None:
        raise Invalid("must carry a time zone", line=line, field=field)
    return parsed


def _region(result, *, kind: str, line: int, field: str) -> dict:
    if not isinstance(result, list):
        raise Invalid("must be a list of result regions", line=line, field=field)
    regions = [r for r in result if isinstance(r, dict) and r.get("type") == kind]
    if len(regions) != 1:
        raise Invalid(f"must hold exactly one '{kind}' result (the {kind} template)", line=line, field=field)
    value = regions[0].get("value")
    if not isinstance(value, dict):
        raise Invalid("must be an object", line=line, field=f"{field}[{result.index(regions[0])}].value")
    return value


def _pairwise(task: dict, *, line: int) -> tuple[list[str], list]:
    data = task.get("data")
    if not isinstance(data, dict):
        raise Invalid("must be an object", line=line, field="data")
    responses = [_text(data.get("answer1"), line=line, field="data.answer1"),
                 _text(data.get("answer2"), line=line, field="data.answer2")]

    def label(value: dict, field: str) -> dict:
        selected = value.get("selected")
        if selected not in ("left", "right"):
            raise Invalid("must be 'left' or 'right'", line=line, field=f"{field}.selected")
        # answer1 is shown left and is canonical position 0 (A): left = A > B.
        return {"strength": -1 if selected == "left" else 1}

    return responses, [label, "pairwise"]


def _ranker(task: dict, *, line: int, k: int) -> tuple[list[str], list]:
    data = task.get("data")
    if not isinstance(data, dict):
        raise Invalid("must be an object", line=line, field="data")
    items = data.get("items")
    if not isinstance(items, list) or len(items) != k:
        raise Invalid(f"must list the {k} responses this project ranks", line=line, field="data.items")
    ids, responses = [], []
    for index, entry in enumerate(items):
        where = f"data.items[{index}]"
        if not isinstance(entry, dict) or entry.get("id") in (None, ""):
            raise Invalid("must be an object with an id and a body", line=line, field=where)
        ids.append(str(entry["id"]))
        responses.append(_text(entry.get("body", entry.get("title")), line=line, field=f"{where}.body"))
    if len(set(ids)) != len(ids):
        raise Invalid("item ids must be unique", line=line, field="data.items")

    def label(value: dict, field: str) -> dict:
        ranker = value.get("ranker")
        if not isinstance(ranker, dict) or len(ranker) != 1:
            raise Invalid("must map the list's name to its ids in ranked order (buckets are not "
                          "supported)", line=line, field=f"{field}.ranker")
        [(name, order)] = ranker.items()
        if not isinstance(order, list) or sorted(map(str, order)) != sorted(ids):
            raise Invalid(f"must order each of the task's item ids ({', '.join(ids)}) once",
                          line=line, field=f"{field}.ranker.{name}")
        rank_of = {str(item_id): position + 1 for position, item_id in enumerate(order)}
        return {"ranking": [rank_of[i] for i in ids]}

    return responses, [label, "ranker"]


def label_studio_parse(raw: bytes, *, project: Project) -> list[RawAnnotation]:
    """The export's annotations as raw rows for ``project`` (pairwise projects
    take the pairwise template, ranking projects the ranker)."""
    layout = _layout(project)
    try:
        tasks = json.loads(raw)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Invalid(f"is not JSON ({error})", field="file") from None
    if not isinstance(tasks, list):
        raise Invalid("must be a JSON array of tasks (Label Studio's JSON export)", field="file")
    rows = []
    for line, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise Invalid("must be a task object", line=line, field="task")
        task_id = task.get("id", line)
        messages = _prompt((task.get("data") or {}).get("prompt") if isinstance(task.get("data"), dict)
                           else None, line=line)
        if layout == "pairwise":
            responses, (label, kind) = _pairwise(task, line=line)
        else:
            responses, (label, kind) = _ranker(task, line=line, k=project.num_responses)
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            raise Invalid("must be a list", line=line, field="annotations")
        for index, annotation in enumerate(annotations):
            where = f"annotations[{index}]"
            if not isinstance(annotation, dict):
                raise Invalid("must be an object", line=line, field=where)
            if annotation.get("was_cancelled"):
                continue  # skipped in Label Studio: no judgement to import
            value = _region(annotation.get("result"), kind=kind, line=line, field=f"{where}.result")
            rows.append(RawAnnotation(
                line=line, item_key=f"ls-{task_id}", order=(line,), messages=messages,
                responses=responses, models=[""] * len(responses),
                labeler=_annotator(annotation.get("completed_by"), line=line, field=f"{where}.completed_by"),
                source="imported", display_order=list(range(len(responses))),
                label=label(value, f"{where}.result[0].value"),
                created_at=_created_at(annotation.get("created_at"), line=line, field=f"{where}.created_at")))
    return rows


# Out ------------------------------------------------------------------------------
def label_studio_export(*, project: Project) -> list[dict]:
    """The project's non-gold items and labels as Label Studio tasks of the
    project's template. Labelers appear as numbers (``completed_by``), the same
    number for the same labeler across the file, with their Palate pseudonym in
    the task's ``meta``. A pairwise tie or "both bad" has no pairwise-tag
    equivalent and is left out (counted in ``meta.labels_left_out``); tied ranks
    are ordered by position."""
    layout = _layout(project)
    slots: dict[int, list[tuple[int, str, str]]] = {}
    for item_id, position, text, response_id in ItemResponse.objects.filter(
            item__project=project, item__is_gold=False).order_by("item_id", "position").values_list(
            "item_id", "position", "response__text", "response_id"):
        slots.setdefault(item_id, []).append((position, text, str(response_id)))
    labels: dict[int, list[Annotation]] = {}
    for annotation in Annotation.objects.filter(project=project, item__is_gold=False).order_by("pk"):
        labels.setdefault(annotation.item_id, []).append(annotation)
    numbers = {uid: n + 1 for n, uid in enumerate(sorted({a.labeler_id for rows in labels.values()
                                                           for a in rows}))}
    tasks = []
    for item in ComparisonItem.objects.filter(project=project, is_gold=False).select_related(
            "prompt").order_by("pk"):
        responses = slots.get(item.pk, [])
        prompt = transcript(item.prompt.messages)
        annotations, left_out, annotators = [], 0, {}
        for annotation in labels.get(item.pk, []):
            if layout == "pairwise":
                if annotation.both_bad or not annotation.strength:
                    left_out += 1
                    continue
                result = {"from_name": PAIRWISE_CONTROL, "to_name": "answer1", "type": "pairwise",
                          "origin": "manual",
                          "value": {"selected": "left" if annotation.strength < 0 else "right"}}
            else:
                order = sorted(range(len(responses)), key=lambda i, r=annotation.ranking: (r[i], i))
                result = {"from_name": RANKER_CONTROL, "to_name": RANKER_LIST, "type": "ranker",
                          "origin": "manual",
                          "value": {"ranker": {RANKER_LIST: [responses[i][2] for i in order]}}}
            number = numbers[annotation.labeler_id]
            annotators[str(number)] = labeler_pseudonym(annotation.labeler_id)
            annotations.append({"id": annotation.pk, "completed_by": number, "result": [result],
                                "was_cancelled": False, "ground_truth": False,
                                "created_at": annotation.created_at.isoformat(),
                                "lead_time": (annotation.time_on_task_ms or 0) / 1000})
        if layout == "pairwise":
            data = {"prompt": prompt, "answer1": responses[0][1], "answer2": responses[1][1]}
        else:
            data = {"prompt": prompt, "items": [{"id": rid, "title": f"Response {p + 1}", "body": text}
                                                for p, text, rid in responses]}
        tasks.append({"id": item.pk, "data": data, "annotations": annotations, "predictions": [],
                      "meta": {"palate_item_id": item.pk, "annotators": annotators,
                               "labels_left_out": left_out}})
    return tasks
