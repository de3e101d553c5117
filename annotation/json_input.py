"""Untrusted JSON (request bodies, import lines) checked value by value.

Python's json module takes things the rest of the system cannot: NaN and
Infinity (a NaN score sorts arbitrarily and ranks a 1.0 response above a
5.0 one), lone surrogates such as "\\ud800" (no UTF-8 encoding: hashing a
prompt raises UnicodeEncodeError), NUL characters (PostgreSQL's text and
jsonb refuse them) and nesting past the interpreter's recursion limit. Each is
refused here with the path of the value, e.g. ``completions[0].score``.
"""

import json
import math
import re

from annotation.errors import Invalid

# Deeper than any real prompt, message list or metadata needs, and far below
# the recursion limit of json.dumps and of the code that walks stored values.
MAX_DEPTH = 64
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def json_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character"
    return f"contains a lone surrogate (U+{ord(found.group()):04X}), which is not text"


def _path(parent: str, key) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def json_value_check(value, *, line: int | None = None, field: str = "") -> None:
    """Raise Invalid naming the first value that is not a finite number,
    storable text, or within MAX_DEPTH levels (iterative: no recursion)."""
    stack = [(value, field, 0)]
    while stack:
        current, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(f"is nested more than {MAX_DEPTH} levels deep", line=line,
                          field=where or None)
        if isinstance(current, float) and not math.isfinite(current):
            raise Invalid(f"must be a finite number, not {current}", line=line,
                          field=where or None)
        if isinstance(current, str):
            problem = json_text_problem(current)
            if problem:
                raise Invalid(problem, line=line, field=where or None)
        elif isinstance(current, dict):
            for key, item in reversed(list(current.items())):
                problem = json_text_problem(str(key))
                if problem:
                    raise Invalid(f"a key {problem}", line=line, field=where or None)
                stack.append((item, _path(where, key), depth + 1))
        elif isinstance(current, list | tuple):
            for index in range(len(current) - 1, -1, -1):
                stack.append((current[index], _path(where, index), depth + 1))


def json_line_parse(text: str, *, line: int):
    """One line of a JSON-lines file, parsed and checked."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise Invalid(f"not valid JSON ({error.msg} at column {error.colno})", line=line) from None
    except RecursionError:
        raise Invalid(f"is nested more than {MAX_DEPTH} levels deep", line=line) from None
    json_value_check(value, line=line)
    return value
