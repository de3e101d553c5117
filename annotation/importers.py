"""Reading prompt files and comparison-item files (JSONL, CSV or Parquet) into
validated entries.

Everything is parsed and checked before anything is written, so a bad line
fails the whole import with its line number and field.
"""

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from annotation.datasets.readers import parquet_rows
from annotation.errors import Invalid
from annotation.json_input import json_line_parse, json_value_check
from annotation.services.items_bulk import item_entry_from_dict
from annotation.services.prompts import PromptInput, prompt_input_from_dict

MAX_FILE_BYTES = 512 * 1024 * 1024
CSV_RESERVED = {"prompt", "external_id", "id"}


def _jsonl_rows(handle) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        yield number, json_line_parse(line, line=number)


def _csv_checked(reader) -> Iterator[dict]:
    """The reader's rows; a malformed file (a cell over the csv module's field
    limit, a NUL byte) is Invalid at its line, not a crash."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise Invalid(f"not valid CSV ({error})", line=reader.line_num) from None
        yield row


def _csv_rows(handle) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(handle)
    if not reader.fieldnames or "prompt" not in reader.fieldnames:
        raise Invalid("the CSV header must have a 'prompt' column", line=1, field="prompt")
    for row in _csv_checked(reader):
        # line_num counts physical lines, so multi-line quoted cells still
        # report the line a person sees in an editor.
        entry = {key: value for key, value in row.items() if key in CSV_RESERVED}
        extra = {key: value for key, value in row.items()
                 if key not in CSV_RESERVED and key is not None}
        if None in row:
            raise Invalid("more cells than header columns", line=reader.line_num)
        entry["metadata"] = extra
        json_value_check(entry, line=reader.line_num)
        yield reader.line_num, entry


def _text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise Invalid("not UTF-8 text", line=line) from None
    return text


def _checked(path: Path, suffixes: tuple[str, ...]) -> str:
    path = Path(path)
    if not path.is_file():
        raise Invalid(f"no such file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise Invalid(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise Invalid(f"use a {' or '.join(suffixes)} file", field="file")
    return suffix


def prompts_read(path: Path) -> list[PromptInput]:
    suffix = _checked(path, (".jsonl", ".ndjson", ".csv", ".parquet"))
    if suffix == ".parquet":
        rows = parquet_rows(Path(path))
    else:
        handle = io.StringIO(_text(Path(path)), newline="")
        rows = _csv_rows(handle) if suffix == ".csv" else _jsonl_rows(handle)
    return [prompt_input_from_dict(data, line=number) for number, data in rows]


_NUMBERED = re.compile(r"^(response|model)_(\d+)$")


def _csv_item_rows(handle) -> Iterator[tuple[int, dict]]:
    """A ``prompt`` column, ``response_1`` … ``response_K`` and optional
    ``model_1`` … ``model_K``; other columns become the prompt's metadata."""
    reader = csv.DictReader(handle)
    header = reader.fieldnames or []
    if "prompt" not in header:
        raise Invalid("the CSV header must have a 'prompt' column", line=1, field="prompt")
    numbers = sorted(int(m.group(2)) for name in header
                     if (m := _NUMBERED.match(name)) and m.group(1) == "response")
    if numbers != list(range(1, len(numbers) + 1)) or len(numbers) < 2:
        raise Invalid("needs columns response_1, response_2, … numbered from 1", line=1,
                      field="response_1")
    for row in reader:
        if None in row:
            raise Invalid("more cells than header columns", line=reader.line_num)
        entry = {"prompt": row["prompt"],
                 "responses": [{"text": row[f"response_{n}"], "model_name": row.get(f"model_{n}") or ""}
                               for n in numbers],
                 "metadata": {k: v for k, v in row.items()
                              if k not in CSV_RESERVED and not _NUMBERED.match(k)}}
        if row.get("external_id") or row.get("id"):
            entry["external_id"] = row.get("external_id") or row.get("id")
        yield reader.line_num, entry


def items_read(path: Path) -> list:
    """Item entries (see ``item_entry_from_dict``) of a JSONL, CSV or Parquet file;
    every line is checked before anything is written."""
    suffix = _checked(path, (".jsonl", ".ndjson", ".csv", ".parquet"))
    if suffix == ".parquet":
        rows = parquet_rows(Path(path))
    else:
        handle = io.StringIO(_text(Path(path)), newline="")
        rows = _csv_item_rows(handle) if suffix == ".csv" else _jsonl_rows(handle)
    return [item_entry_from_dict(data, line=number) for number, data in rows]
