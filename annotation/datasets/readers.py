"""Reading existing preference data: TRL, Anthropic HH transcripts, scored responses.

Each reader yields PreferenceRecord objects with the line (or Parquet row)
number; every problem raises Invalid naming that line and the field.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from annotation.errors import Invalid
from annotation.validation import messages_clean

MAX_FILE_BYTES = 512 * 1024 * 1024
FORMATS = ("auto", "trl", "hh", "scores")
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


def hh_parse(text: str, *, line: int, name: str) -> list[dict]:
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


def _detect(row: dict) -> str:
    if "completions" in row or "responses" in row:
        return "scores"
    if "prompt" not in row and isinstance(row.get("chosen"), str) and "Assistant:" in row["chosen"]:
        return "hh"
    return "trl"


PARSERS = {"trl": _trl, "hh": _hh, "scores": _scores}


def _json_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid("not UTF-8 text", line=number) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise Invalid(f"not valid JSON ({error.msg} at column {error.colno})",
                              line=number) from None
            if not isinstance(row, dict):
                raise Invalid("each line must be a JSON object", line=number)
            yield number, row


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types
        raise Invalid(f"not a readable Parquet file ({error})") from None
    number = 0
    for batch in source.iter_batches(batch_size=5000):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def preferences_read(path: Path, *, fmt: str = "auto") -> Iterator[PreferenceRecord]:
    """Records of a JSONL or Parquet file; line numbers count from 1 (rows for Parquet)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise Invalid(f"must be one of {', '.join(FORMATS)}", field="format")
    if not path.is_file():
        raise Invalid(f"no such file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise Invalid(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = _json_rows(path)
    elif suffix == ".parquet":
        rows = _parquet_rows(path)
    else:
        raise Invalid("use a .jsonl or .parquet file")
    chosen_format = None if fmt == "auto" else fmt
    for number, row in rows:
        chosen_format = chosen_format or _detect(row)
        yield PARSERS[chosen_format](row, number)
