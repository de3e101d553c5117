"""Pure checks of labeler input against a project's configuration.

Each function returns cleaned values or raises Invalid naming the field.
"""

from annotation.errors import Invalid
from annotation.json_input import json_text_problem
from annotation.models import Project, TaskType
from annotation.splits import ROLES

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


def strength_clean(project: Project, strength, both_bad: bool) -> int | None:
    if strength is None:
        if not both_bad:
            raise Invalid("a preference strength is required unless both are bad", field="strength")
        return None
    if isinstance(strength, bool) or not isinstance(strength, int) or not -2 <= strength <= 2:
        raise Invalid("must be an integer from -2 (A much better) to 2 (B much better)",
                      field="strength")
    if strength == 0 and not project.allow_ties:
        raise Invalid("this project does not allow ties", field="strength")
    return strength


def ranking_clean(project: Project, ranking) -> list[int]:
    """Ranks per canonical position, renumbered densely (1, 2, 2, 3)."""
    k = project.num_responses
    if not isinstance(ranking, list) or len(ranking) != k:
        raise Invalid(f"must list one rank for each of the {k} responses", field="ranking")
    if any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in ranking):
        raise Invalid("ranks must be positive integers (1 is best)", field="ranking")
    if not project.allow_ties and len(set(ranking)) != k:
        raise Invalid("this project does not allow ties", field="ranking")
    dense = {rank: i + 1 for i, rank in enumerate(sorted(set(ranking)))}
    return [dense[r] for r in ranking]


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
        "strength": None,
        "ranking": None,
        "ratings": ratings_clean(project, data.get("ratings")),
        "rationale": str(data.get("rationale") or "")[:MAX_RATIONALE],
        "flagged_unsafe": bool(data.get("flagged_unsafe", False)),
    }
    if project.task_type == TaskType.PAIRWISE:
        if data.get("ranking") is not None:
            raise Invalid("pairwise projects take a strength, not a ranking", field="ranking")
        cleaned["strength"] = strength_clean(project, data.get("strength"), both_bad)
    else:
        if data.get("strength") is not None:
            raise Invalid("ranking projects take a ranking, not a strength", field="strength")
        cleaned["ranking"] = ranking_clean(project, data.get("ranking"))
    time_ms = data.get("time_on_task_ms")
    if time_ms is not None and (
        isinstance(time_ms, bool) or not isinstance(time_ms, int) or not 0 <= time_ms < 2**31
    ):
        raise Invalid("must be a non-negative integer of milliseconds", field="time_on_task_ms")
    cleaned["time_on_task_ms"] = time_ms
    return cleaned


def gold_answer_clean(project: Project, answer) -> dict:
    """Pairwise: {"min": a, "max": b} (or {"strength": v}); ranking: {"ranking": [...]}."""
    if not isinstance(answer, dict):
        raise Invalid("a gold item needs an expected answer object", field="gold_answer")
    if project.task_type == TaskType.PAIRWISE:
        if "strength" in answer:
            answer = {"min": answer["strength"], "max": answer["strength"]}
        low, high = answer.get("min"), answer.get("max")
        for bound in (low, high):
            if isinstance(bound, bool) or not isinstance(bound, int) or not -2 <= bound <= 2:
                raise Invalid("min and max must be integers from -2 to 2", field="gold_answer")
        if low > high:
            raise Invalid("min must not exceed max", field="gold_answer")
        return {"min": low, "max": high}
    return {"ranking": ranking_clean(project, answer.get("ranking"))}
