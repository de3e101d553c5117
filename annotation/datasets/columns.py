"""TRL rows as Arrow record batches, built column by column (for Parquet and HF)."""

import json
from collections.abc import Iterator

import pyarrow as pa

from annotation.datasets.rows import (
    COMPLETION_META_COLUMNS,
    META_COLUMNS,
    completion_tuples,
    pair_tuples,
    transcript,
)
from annotation.models import DatasetSnapshot

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
META_TYPES = {"margin": pa.float64(), "weight": pa.float64(), "is_tie": pa.bool_(),
              "agreement": pa.float64(), "num_labels": pa.int64(), "item_id": pa.int64(),
              "chosen_model": pa.string(), "rejected_model": pa.string()}


def trl_schema(*, style: str, meta: bool) -> pa.Schema:
    turn = pa.list_(MESSAGE) if style == "conversational" else pa.string()
    fields = [("prompt", turn), ("chosen", turn), ("rejected", turn)]
    if meta:
        fields += [(name, META_TYPES[name]) for name in META_COLUMNS]
    return pa.schema(fields)


def _messages(conversations: list[list[dict]]) -> pa.Array:
    offsets, roles, contents = [0], [], []
    for messages in conversations:
        for message in messages:
            roles.append(message["role"])
            contents.append(message["content"])
        offsets.append(len(roles))
    values = pa.StructArray.from_arrays([pa.array(roles, pa.string()),
                                         pa.array(contents, pa.string())], fields=list(MESSAGE))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def _replies(texts: list[str]) -> pa.Array:
    values = pa.StructArray.from_arrays(
        [pa.array(["assistant"] * len(texts), pa.string()), pa.array(texts, pa.string())],
        fields=list(MESSAGE))
    return pa.ListArray.from_arrays(pa.array(range(len(texts) + 1), pa.int32()), values)


def _completions(texts: tuple, messages: tuple) -> pa.Array:
    """One assistant message per row, or a multi-turn completion's messages."""
    if not any(messages):
        return _replies(list(texts))
    return _messages([json.loads(m) if m else [{"role": "assistant", "content": t}]
                      for t, m in zip(texts, messages, strict=True)])


def trl_batches(snapshot: DatasetSnapshot, *, split: str, style: str, meta: bool,
                size: int) -> Iterator[pa.RecordBatch]:
    schema = trl_schema(style=style, meta=meta)
    rows = pair_tuples(snapshot, split=split, meta=meta)
    while True:
        chunk = [row for _, row in zip(range(size), rows, strict=False)]
        if not chunk:
            return
        columns = list(zip(*chunk, strict=True))
        prompts = [json.loads(text) for text in columns[0]]
        if style == "conversational":
            arrays = [_messages(prompts), _completions(columns[1], columns[3]),
                      _completions(columns[2], columns[4])]
        else:
            arrays = [pa.array([transcript(p) for p in prompts], pa.string()),
                      pa.array(columns[1], pa.string()), pa.array(columns[2], pa.string())]
        if meta:
            arrays += [pa.array(columns[5 + i], META_TYPES[name])
                       for i, name in enumerate(META_COLUMNS)]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


KTO_META_TYPES = {"score": pa.float64(), "weight": pa.float64(), "agreement": pa.float64(),
                  "num_labels": pa.int64(), "item_id": pa.int64(), "model_name": pa.string()}


def kto_schema(*, style: str, meta: bool) -> pa.Schema:
    """TRL's unpaired layout: prompt, completion, label (true: thumbs up)."""
    turn = pa.list_(MESSAGE) if style == "conversational" else pa.string()
    fields = [("prompt", turn), ("completion", turn), ("label", pa.bool_())]
    if meta:
        fields += [(name, KTO_META_TYPES[name]) for name in COMPLETION_META_COLUMNS]
    return pa.schema(fields)


def kto_batches(snapshot: DatasetSnapshot, *, split: str, style: str, meta: bool,
                size: int) -> Iterator[pa.RecordBatch]:
    schema = kto_schema(style=style, meta=meta)
    rows = completion_tuples(snapshot, split=split, meta=meta)
    while True:
        chunk = [row for _, row in zip(range(size), rows, strict=False)]
        if not chunk:
            return
        columns = list(zip(*chunk, strict=True))
        prompts = [json.loads(text) for text in columns[0]]
        if style == "conversational":
            arrays = [_messages(prompts), _replies(list(columns[1]))]
        else:
            arrays = [pa.array([transcript(p) for p in prompts], pa.string()),
                      pa.array(columns[1], pa.string())]
        arrays.append(pa.array(columns[2], pa.bool_()))
        if meta:
            arrays += [pa.array(columns[3 + i], KTO_META_TYPES[name])
                       for i, name in enumerate(COMPLETION_META_COLUMNS)]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
