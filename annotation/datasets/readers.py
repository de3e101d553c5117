"""Reading existing preference data: TRL, Anthropic HH transcripts, scored
responses, and Palate's own raw annotation export.

Each reader yields records with the line (or Parquet row) number; every
problem raises Invalid naming that line and the field. The first three
formats give one PreferenceRecord per row (an item with its order); the raw
format gives one RawAnnotation per row (one labeler's judgement of an item),
checked against the target project by annotation.services.preference_import.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from annotation.datasets.import_limits import (
    MAX_LINE_BYTES,
    MAX_ROWS,
    PARQUET_BATCH_ROWS,
    DecodedBudget,
    arrow_decoded_bytes,
    too_large,
)
from annotation.errors import Invalid
from annotation.json_input import json_line_parse, json_value_check
from annotation.validation import messages_clean

MAX_FILE_BYTES = 512 * 1024 * 1024
FORMATS = ("auto", "trl", "hh", "scores", "raw")
SOURCES = ("human", "model", "imported")
MAX_LABELER = 100
# A pseudonym becomes part of an import account's username: word characters
# and . @ + - only, as Django's username validator allows.
_PSEUDONYM = re.compile(r"^[\w.@+-]+$", re.ASCII)
_HH_TURN = re.compile(r"\n\n(Human|Assistant|System):[ ]?")
_HH_ROLES = {"Human": "user", "Assistant": "assistant", "System": "system"}


@dataclass(frozen=True)
class PreferenceRecord:
    """A prompt, its responses, and the order between them.

    ``ranking`` gives one rank per response (1 is best; equal ranks tie).
    """

    line: int
    messages: list[dict]
    responses: list[str]
    ranking: list[int]
    models: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RawAnnotation:
    """One row of a raw export: a labeler's judgement of an item.

    ``item_key`` groups rows into items (the exporting project's item id);
    ``order`` is (prompt id, item id) of the source when present, so items are
    recreated in the source's order. ``label`` holds the judgement fields as
    they were read; they are checked against the project on import.
    """

    line: int
    item_key: str
    order: tuple
    messages: list[dict]
    responses: list[str]
    models: list[str]
    labeler: str
    source: str
    display_order: list[int]
    label: dict
    created_at: datetime | None


def hh_parse(text: object, *, line: int, name: str) -> list[dict]:
    """'\\n\\nHuman: … \\n\\nAssistant: …' into a message list."""
    if not isinstance(text, str):
        raise Invalid("must be a transcript string", line=line, field=name)
    parts = _HH_TURN.split(text if text.startswith("\n\n") else "\n\n" + text)
    if parts[0].strip() or len(parts) < 3:
        raise Invalid("is not a 'Human: … Assistant: …' transcript", line=line, field=name)
    return [{"role": _HH_ROLES[role], "content": content.strip()}
            for role, content in zip(parts[1::2], parts[2::2], strict=True)]


def _messages(value, *, line: int, name: str) -> list[dict]:
    try:
        return messages_clean(value, field=name)
    except Invalid as error:
        error.line = line
        raise


def _split_conversation(messages: list[dict], *, line: int, name: str) -> tuple[list[dict], str]:
    if not messages or messages[-1]["role"] != "assistant" or not messages[-1]["content"]:
        raise Invalid("must end with a non-empty assistant turn", line=line, field=name)
    return messages[:-1], messages[-1]["content"]


def _response(value, *, line: int, name: str) -> tuple[list[dict] | None, str]:
    """A TRL response: a string, or a message list (maybe holding the prompt too)."""
    if isinstance(value, str):
        if not value.strip():
            raise Invalid("must not be empty", line=line, field=name)
        return None, value
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        messages = [{"role": m.get("role"), "content": m.get("content")} for m in value]
        if any(m["role"] not in ("system", "user", "assistant") or not isinstance(m["content"], str)
               for m in messages):
            raise Invalid("messages need a role and string content", line=line, field=name)
        return _split_conversation(messages, line=line, name=name)
    raise Invalid("must be a string or a list of messages", line=line, field=name)


def _trl(row: dict, line: int) -> PreferenceRecord:
    for name in ("chosen", "rejected"):
        if name not in row:
            raise Invalid("is missing", line=line, field=name)
    chosen_context, chosen = _response(row["chosen"], line=line, name="chosen")
    rejected_context, rejected = _response(row["rejected"], line=line, name="rejected")
    if "prompt" in row:
        # The conversational form may repeat the history in chosen/rejected.
        messages = _messages(row["prompt"], line=line, name="prompt")
    else:
        if chosen_context is None or chosen_context != rejected_context:
            raise Invalid("is missing (and chosen/rejected share no conversation)", line=line,
                          field="prompt")
        messages = _messages(chosen_context, line=line, name="chosen")
    return PreferenceRecord(line=line, messages=messages, responses=[chosen, rejected],
                            ranking=[1, 2])


def _hh(row: dict, line: int) -> PreferenceRecord:
    chosen = hh_parse(row.get("chosen"), line=line, name="chosen")
    rejected = hh_parse(row.get("rejected"), line=line, name="rejected")
    chosen_context, chosen_text = _split_conversation(chosen, line=line, name="chosen")
    rejected_context, rejected_text = _split_conversation(rejected, line=line, name="rejected")
    if chosen_context != rejected_context:
        raise Invalid("chosen and rejected continue different conversations", line=line,
                      field="rejected")
    messages = _messages(chosen_context, line=line, name="chosen")
    return PreferenceRecord(line=line, messages=messages, responses=[chosen_text, rejected_text],
                            ranking=[1, 2])


def _scores(row: dict, line: int) -> PreferenceRecord:
    candidates = row.get("completions", row.get("responses"))
    if not isinstance(candidates, list) or len(candidates) < 2:
        raise Invalid("must list at least two scored responses", line=line, field="completions")
    texts, scores, models = [], [], []
    for index, candidate in enumerate(candidates):
        where = f"completions[{index}]"
        if not isinstance(candidate, dict):
            raise Invalid("must be an object with text and score", line=line, field=where)
        text = candidate.get("text", candidate.get("response"))
        score = candidate.get("score", candidate.get("overall_score"))
        if not isinstance(text, str) or not text.strip():
            raise Invalid("needs a non-empty text", line=line, field=f"{where}.text")
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise Invalid("needs a numeric score", line=line, field=f"{where}.score")
        texts.append(text)
        scores.append(float(score))
        models.append(str(candidate.get("model", candidate.get("model_name", "")))[:200])
    messages = _messages(row.get("prompt", row.get("instruction")), line=line, name="prompt")
    distinct = sorted(set(scores), reverse=True)
    ranking = [distinct.index(s) + 1 for s in scores]
    return PreferenceRecord(line=line, messages=messages, responses=texts, ranking=ranking,
                            models=models)


def _raw_id(value, *, line: int, name: str, required: bool) -> int | str | None:
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip() and len(value) <= 200:
        return value
    raise Invalid("must be a non-negative integer or a short string id", line=line, field=name)


def _raw_responses(value, *, line: int) -> tuple[list[str], list[str]]:
    if not isinstance(value, list) or len(value) < 2:
        raise Invalid("must list the item's responses (at least two)", line=line,
                      field="responses")
    texts, models = [], []
    for index, response in enumerate(value):
        where = f"responses[{index}]"
        if isinstance(response, str):
            response = {"text": response}
        if not isinstance(response, dict):
            raise Invalid("must be an object with a text", line=line, field=where)
        text, model = response.get("text"), response.get("model_name") or ""
        if not isinstance(text, str) or not text.strip():
            raise Invalid("needs a non-empty text", line=line, field=f"{where}.text")
        if not isinstance(model, str) or len(model) > 200:
            raise Invalid("must be a string of at most 200 characters", line=line,
                          field=f"{where}.model_name")
        texts.append(text)
        models.append(model)
    return texts, models


def _raw_time(value, *, line: int) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid("must be an ISO 8601 time with a UTC offset", line=line, field="created_at")
    return moment


def _raw(row: dict, line: int) -> RawAnnotation:
    """One raw-export row (annotation.datasets.rows.raw_row)."""
    item_key = _raw_id(row.get("item_id"), line=line, name="item_id", required=True)
    prompt_key = _raw_id(row.get("prompt_id"), line=line, name="prompt_id", required=False)
    messages = _messages(row.get("prompt"), line=line, name="prompt")
    texts, models = _raw_responses(row.get("responses"), line=line)
    labeler = row.get("labeler")
    if not isinstance(labeler, str) or not 0 < len(labeler) <= MAX_LABELER \
            or not _PSEUDONYM.match(labeler):
        raise Invalid(f"must be a pseudonym of at most {MAX_LABELER} letters, digits or . @ + - _",
                      line=line, field="labeler")
    source = row.get("source", "human")
    if source not in SOURCES:
        raise Invalid(f"must be one of {', '.join(SOURCES)}", line=line, field="source")
    display_order = row.get("display_order", list(range(len(texts))))
    if not isinstance(display_order, list) or sorted(
            d if isinstance(d, int) and not isinstance(d, bool) else -1
            for d in display_order) != list(range(len(texts))):
        raise Invalid(f"must be an ordering of the positions 0..{len(texts) - 1}", line=line,
                      field="display_order")
    label = {name: row.get(name) for name in ("strength", "both_bad", "ranking", "ratings",
                                               "rationale", "flagged_unsafe", "time_on_task_ms")}
    if label["rationale"] is not None and not isinstance(label["rationale"], str):
        raise Invalid("must be a string", line=line, field="rationale")
    for name in ("both_bad", "flagged_unsafe"):
        if label[name] is not None and not isinstance(label[name], bool):
            raise Invalid("must be true or false", line=line, field=name)
    # Integer ids sort before string ones; within a kind, by value.
    order = tuple((0, key, "") if isinstance(key, int) else (1, 0, str(key))
                  for key in (prompt_key, item_key))
    return RawAnnotation(line=line, item_key=str(item_key), order=order, messages=messages,
                         responses=texts, models=models, labeler=labeler, source=source,
                         display_order=display_order, label=label,
                         created_at=_raw_time(row.get("created_at"), line=line))


def _detect(row: dict) -> str:
    if "labeler" in row and "item_id" in row:
        return "raw"
    if "completions" in row or "responses" in row:
        return "scores"
    if "prompt" not in row and isinstance(row.get("chosen"), str) and "Assistant:" in row["chosen"]:
        return "hh"
    return "trl"


PARSERS: dict[str, Callable[[dict, int], PreferenceRecord | RawAnnotation]] = {
    "trl": _trl, "hh": _hh, "scores": _scores, "raw": _raw}


def _json_rows(path: Path) -> Iterator[tuple[int, dict]]:
    budget = DecodedBudget()
    with path.open("rb") as handle:
        number = 0
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise too_large("the line", MAX_LINE_BYTES, line=number)
            budget.spend(len(raw), line=number)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid("not UTF-8 text", line=number) from None
            if not line.strip():
                continue
            row = json_line_parse(line, line=number)
            if not isinstance(row, dict):
                raise Invalid("each line must be a JSON object", line=number)
            yield number, row


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """Rows in batches, each measured before it is decoded (import_limits)."""
    import pyarrow as pa  # heavy: loaded only by the formats that need it
    import pyarrow.parquet as pq

    try:
        footer = pq.ParquetFile(path)
        byte_arrays = [footer.schema.column(i).path for i in range(len(footer.schema))
                       if footer.schema.column(i).physical_type == "BYTE_ARRAY"]
        source = pq.ParquetFile(path, read_dictionary=byte_arrays)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types
        raise Invalid(f"not a readable Parquet file ({error})") from None
    if source.metadata.num_rows > MAX_ROWS:
        raise too_large(f"{source.metadata.num_rows:,} rows", MAX_ROWS)
    number = 0
    try:
        # First pass: measure every batch as stored (dictionary indices, no
        # strings built), so a bomb is refused before any row is parsed.
        budget = DecodedBudget()
        for batch in source.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                budget.spend(arrow_decoded_bytes(column, name=name, first_row=number + 1),
                             line=number + 1)
            number += batch.num_rows
        number = 0
        for batch in source.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                number += 1
                json_value_check(row, line=number)
                yield number, row
    except (OSError, ValueError, pa.ArrowException) as error:
        raise Invalid(f"not a readable Parquet file ({error})", line=number + 1) from None


parquet_rows = _parquet_rows  # also read by annotation.importers (prompt and item files)


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, dict]]:
    path = Path(path)
    if fmt not in FORMATS:
        raise Invalid(f"must be one of {', '.join(FORMATS)}", field="format")
    if not path.is_file():
        raise Invalid(f"no such file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise Invalid(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _json_rows(path)
    if suffix == ".parquet":
        return _parquet_rows(path)
    raise Invalid("use a .jsonl or .parquet file")


def preferences_format(path: Path, *, fmt: str = "auto") -> str:
    """The format of the file: ``fmt`` itself, or the one its first row shows."""
    rows = _rows(path, fmt)
    if fmt != "auto":
        return fmt
    first = next(rows, None)
    return _detect(first[1]) if first else "trl"


def preferences_read(path: Path, *, fmt: str = "auto") -> Iterator[PreferenceRecord | RawAnnotation]:
    """Records of a JSONL or Parquet file; line numbers count from 1 (rows for Parquet).
    A raw file gives RawAnnotation records instead (see preferences_format)."""
    chosen_format = None if fmt == "auto" else fmt
    for number, row in _rows(path, fmt):
        chosen_format = chosen_format or _detect(row)
        yield PARSERS[chosen_format](row, number)
