"""Argilla datasets in their Hugging Face datasets layout.

Argilla 2.x's ``to_datasets()`` / ``to_hub()`` flatten a record into columns:
its fields by name (``prompt``, ``response1``, …), and per question
``<question>.responses`` (one value per annotator), ``<question>.responses.users``
(their user ids, UUIDs) and ``<question>.responses.status`` (``submitted``,
``discarded`` or ``draft``), plus suggestions and metadata. Only submitted
responses are labels.

- **Ranking question**: its options are the response fields; a value is the
  option values best first (``["response2", "response1"]``) or a list of
  ``{"value", "rank"}`` (ties share a rank).
- **Rating questions**: one per response field (``rating_questions`` and
  ``response_fields`` in the same order); a user's ratings of a record become a
  ranking (higher is better, equal ratings tie); for a pairwise project the
  sign of the difference is the preference, equal ratings a tie.

Accepted on disk: a folder written by ``datasets``' ``save_to_disk`` (a
Dataset or a DatasetDict, whose ``train`` split is read), a Hub-layout folder
of Parquet files, or one Parquet file. Written from Argilla's documented
export layout.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from annotation.datasets.readers import RawAnnotation
from annotation.errors import Invalid
from annotation.models import Project
from annotation.task_types import task_type_of
from annotation.validation import messages_clean


@dataclass(frozen=True)
class ArgillaMapping:
    prompt_field: str = "prompt"
    response_fields: tuple[str, ...] = ()  # ranking: default the question's options in their first order
    ranking_question: str = ""  # default: the one question whose values are lists
    rating_questions: tuple[str, ...] = ()


def _columns(path: Path) -> tuple[list[str], list[dict]]:
    import datasets  # heavy: loaded only by the formats that need it

    try:
        return _load(path, datasets)
    except Invalid:
        raise
    except Exception as error:  # pyarrow and datasets raise many kinds on a damaged file
        raise Invalid(f"could not be read as an Argilla export ({type(error).__name__}: {error})"[:500],
                      field="file") from None


def _load(path: Path, datasets) -> tuple[list[str], list[dict]]:
    if path.is_file():
        if path.suffix != ".parquet":
            raise Invalid("must be a Parquet file or a datasets folder", field="file")
        table = datasets.Dataset.from_parquet(str(path))
    elif (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if "train" not in loaded:
                raise Invalid(f"has splits {sorted(loaded)}; the 'train' split is read", field="file")
            loaded = loaded["train"]
        table = loaded
    else:
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        if not files:
            raise Invalid("holds no datasets folder and no Parquet file", field="file")
        table = datasets.Dataset.from_parquet(files)
    return list(table.column_names), list(table)


def _pseudonym(user) -> str:
    return "ar-" + hashlib.sha256(str(user).encode()).hexdigest()[:12]


def _questions(columns: list[str]) -> list[str]:
    return sorted(c[: -len(".responses")] for c in columns if c.endswith(".responses"))


def _responses(row: dict, question: str, *, line: int) -> list[tuple[str, object]]:
    """(user, value) of the submitted responses to ``question``."""
    values = row.get(f"{question}.responses") or []
    users = row.get(f"{question}.responses.users") or []
    statuses = row.get(f"{question}.responses.status") or ["submitted"] * len(values)
    if not (len(values) == len(users) == len(statuses)):
        raise Invalid("responses, users and status must have one entry per annotator", line=line,
                      field=f"{question}.responses")
    return [(user, value) for value, user, status in zip(values, users, statuses, strict=True)
            if status == "submitted" and value is not None]


def _ranks_from_ranking(value, fields: tuple[str, ...], *, line: int, field: str) -> list[int]:
    if not isinstance(value, list) or len(value) != len(fields):
        raise Invalid(f"must rank each of {', '.join(fields)} once", line=line, field=field)
    if all(isinstance(v, str) for v in value):
        ranked = {option: position + 1 for position, option in enumerate(value)}
    elif all(isinstance(v, dict) for v in value):
        ranked = {v.get("value"): v.get("rank") for v in value}
    else:
        raise Invalid("must be option values or {value, rank} objects", line=line, field=field)
    if set(ranked) != set(fields) or any(not isinstance(r, int) or r < 1 for r in ranked.values()):
        raise Invalid(f"must rank each of {', '.join(fields)} once with ranks from 1", line=line,
                      field=field)
    return [ranked[f] for f in fields]


def argilla_parse(path: Path, *, project: Project, mapping: ArgillaMapping) -> list[RawAnnotation]:
    columns, records = _columns(path)
    questions = _questions(columns)
    if mapping.rating_questions:
        fields = mapping.response_fields
        if len(fields) != len(mapping.rating_questions):
            raise Invalid("name one response field per rating question, in the same order",
                          field="response_fields")
        for question in mapping.rating_questions:
            if question not in questions:
                raise Invalid(f"no column '{question}.responses' (questions: {', '.join(questions)})",
                              field="rating_questions")
        ranking_question = ""
    else:
        ranking_question = mapping.ranking_question
        if not ranking_question:
            ranked = [q for q in questions if any(isinstance(r.get(f"{q}.responses"), list)
                                                  and any(isinstance(v, list) for v in r[f"{q}.responses"])
                                                  for r in records)]
            if len(ranked) != 1:
                raise Invalid(f"name the ranking question (found {', '.join(ranked) or 'none'} among "
                              f"{', '.join(questions) or 'no questions'}), or give rating questions",
                              field="ranking_question")
            ranking_question = ranked[0]
        elif ranking_question not in questions:
            raise Invalid(f"no column '{ranking_question}.responses'", field="ranking_question")
        fields = mapping.response_fields or tuple(f for f in columns if f.startswith("response")
                                                  and "." not in f)
    if len(fields) != project.num_responses:
        raise Invalid(f"needs {project.num_responses} response fields for this project, got "
                      f"{', '.join(fields) or 'none'}", field="response_fields")
    for name in (mapping.prompt_field, *fields):
        if name not in columns:
            raise Invalid(f"no field '{name}' in the dataset (columns: {', '.join(columns)})",
                          field="prompt_field" if name == mapping.prompt_field else "response_fields")
    rows = []
    for line, record in enumerate(records, start=1):
        try:
            messages = messages_clean(record.get(mapping.prompt_field), field=mapping.prompt_field)
        except Invalid as error:
            error.line = line
            raise
        responses = []
        for name in fields:
            text = record.get(name)
            if not isinstance(text, str) or not text.strip():
                raise Invalid("must be a non-empty string", line=line, field=name)
            responses.append(text)
        per_user: dict[str, list[int]] = {}
        if ranking_question:
            for user, value in _responses(record, ranking_question, line=line):
                per_user[str(user)] = _ranks_from_ranking(value, fields, line=line,
                                                          field=f"{ranking_question}.responses")
        else:
            ratings: dict[str, list] = {}
            for position, question in enumerate(mapping.rating_questions):
                for user, value in _responses(record, question, line=line):
                    if isinstance(value, bool) or not isinstance(value, int):
                        raise Invalid("must be an integer rating", line=line, field=f"{question}.responses")
                    ratings.setdefault(str(user), [None] * len(fields))[position] = value
            for user, scores in ratings.items():
                if None in scores:
                    continue  # this user did not rate every response: no comparison
                per_user[user] = [1 + sum(other > mine for other in scores) for mine in scores]
        record_id = record.get("id") or record.get("_server_id") or line
        for user, ranks in per_user.items():
            rows.append(RawAnnotation(
                line=line, item_key=f"ar-{record_id}", order=(line,), messages=messages,
                responses=responses, models=[""] * len(responses), labeler=_pseudonym(user),
                source="imported", display_order=list(range(len(responses))),
                label=task_type_of(project).label_from_ranks(ranks), created_at=None))
    return rows
