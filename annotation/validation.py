"""Pure checks of labeler input against a project's configuration.

Each function returns cleaned values or raises Invalid naming the field.
"""

from annotation.errors import Invalid
from annotation.json_input import json_text_problem
from annotation.models import Project
from annotation.splits import ROLES
from annotation.task_types import task_type_of
from annotation.task_types.pairwise import strength_clean
from annotation.task_types.ranking import ranking_clean

__all__ = ["gold_answer_clean", "id_clean", "label_clean", "messages_clean", "ranking_clean",
           "ratings_clean", "strength_clean"]

MAX_TEXT = 200_000
MAX_ID = 2**63 - 1  # a bigint primary key; SQLite's driver overflows past it
MAX_RATIONALE = 20_000


def id_clean(value, *, field: str) -> int:
    """An id from a query parameter: ASCII digits only (str.isdigit() also
    takes "²", which int() refuses) and within a bigint."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise Invalid("must be an id (a non-negative integer)", field=field)
    return int(text)


def messages_clean(value, *, field: str = "messages") -> list[dict]:
    """A prompt as a message list; a bare string is one user turn."""
    if isinstance(value, str):
        if not value.strip():
            raise Invalid("must not be empty", field=field)
        if len(value) > MAX_TEXT:
            raise Invalid(f"is longer than {MAX_TEXT} characters", field=field)
        value = [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise Invalid("must be a non-empty string or a non-empty list of messages", field=field)
    cleaned = []
    for index, message in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            raise Invalid("each message must be an object with role and content", field=where)
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}", field=f"{where}.role")
        if not isinstance(content, str) or not content.strip():
            raise Invalid("content must be a non-empty string", field=f"{where}.content")
        if len(content) > MAX_TEXT:
            raise Invalid(f"content is longer than {MAX_TEXT} characters", field=f"{where}.content")
        problem = json_text_problem(content)
        if problem:  # every way in (API, pages, files, commands) passes here
            raise Invalid(problem, field=f"{where}.content")
        cleaned.append({"role": role, "content": content.strip()})
    if cleaned[-1]["role"] != "user":
        raise Invalid("the last message must be a user turn", field=field)
    return cleaned


def ratings_clean(project: Project, ratings) -> dict[str, list[int | None]]:
    if ratings in (None, {}):
        return {}
    if not isinstance(ratings, dict):
        raise Invalid("must map criterion names to per-response scores", field="ratings")
    criteria = {c["name"]: c for c in project.criteria}
    k = project.num_responses
    cleaned = {}
    for name, scores in ratings.items():
        criterion = criteria.get(name)
        if criterion is None:
            raise Invalid(f"unknown criterion '{name}'", field=f"ratings.{name}")
        if not isinstance(scores, list) or len(scores) != k:
            raise Invalid(f"must list {k} scores (null where not rated)", field=f"ratings.{name}")
        for score in scores:
            if score is None:
                continue
            if isinstance(score, bool) or not isinstance(score, int) or not (
                criterion["min"] <= score <= criterion["max"]
            ):
                raise Invalid(
                    f"scores must be integers from {criterion['min']} to {criterion['max']}",
                    field=f"ratings.{name}",
                )
        cleaned[name] = scores
    return cleaned


def label_clean(project: Project, data: dict) -> dict:
    """The judgement fields of an annotation, checked against the task type."""
    both_bad = bool(data.get("both_bad", False))
    cleaned = {
        "both_bad": both_bad,
        "ratings": ratings_clean(project, data.get("ratings")),
        "rationale": str(data.get("rationale") or "")[:MAX_RATIONALE],
        "flagged_unsafe": bool(data.get("flagged_unsafe", False)),
    }
    cleaned.update(task_type_of(project).judgement_clean(project, data, both_bad=both_bad))
    time_ms = data.get("time_on_task_ms")
    if time_ms is not None and (
        isinstance(time_ms, bool) or not isinstance(time_ms, int) or not 0 <= time_ms < 2**31
    ):
        raise Invalid("must be a non-negative integer of milliseconds", field="time_on_task_ms")
    cleaned["time_on_task_ms"] = time_ms
    return cleaned


def gold_answer_clean(project: Project, answer) -> dict:
    """The expected answer of a gold item, in the task type's shape (pairwise
    {"min", "max"}, ranking {"ranking"}, feedback {"feedback"})."""
    if not isinstance(answer, dict):
        raise Invalid("a gold item needs an expected answer object", field="gold_answer")
    return task_type_of(project).gold_answer_clean(project, answer)
