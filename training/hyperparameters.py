"""What the reward and policy configs share: a dataclass field with its help text
and limits, and the one check of user input against such a dataclass.

No torch here: the web process validates configs without the training stack.
"""

import dataclasses
import types
import typing
from dataclasses import field
from typing import Any


def param(default, help: str, **limits):  # noqa: A002 - "help" reads best in the field list
    """A config field: ``help`` for the API, command and page; ``limits`` among
    ``choices``, ``min`` (inclusive) and ``gt`` (exclusive), checked on input."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **limits})
    return field(default=default, metadata={"help": help, **limits})


def _field_type(cls: type, f: dataclasses.Field) -> type:
    tp = typing.get_type_hints(cls)[f.name]
    return typing.get_origin(tp) if isinstance(tp, types.GenericAlias) else tp


def _typed(name: str, raw, tp: type):
    if tp is bool:
        if not isinstance(raw, bool):
            raise ValueError(f"{name}: must be true or false")
        return raw
    if tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"{name}: must be an integer")
        return raw
    if tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != raw:
            raise ValueError(f"{name}: must be a number")
        return float(raw)
    if tp is str:
        if not isinstance(raw, str):
            raise ValueError(f"{name}: must be a string")
        return raw
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueError(f"{name}: must be a list of strings")
    return list(raw)


def values_from_dict(cls: type, data: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of dataclass ``cls`` that ``data`` sets, typed and within their
    limits. ValueError's message starts with the bad field's name
    (``"beta: must be above 0"``): callers turn it into a field error."""
    data = dict(data or {})
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(by_name))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown hyper-parameter")
    values = {}
    for name, raw in data.items():
        f = by_name[name]
        value = _typed(name, raw, _field_type(cls, f))
        meta = f.metadata
        if "choices" in meta and value not in meta["choices"]:
            raise ValueError(f"{name}: must be one of {', '.join(meta['choices'])}")
        if "min" in meta and value < meta["min"]:
            raise ValueError(f"{name}: must be at least {meta['min']}")
        if "gt" in meta and value <= meta["gt"]:
            raise ValueError(f"{name}: must be above {meta['gt']}")
        values[name] = value
    return values


def check_precision(config) -> None:
    """Options that only a CUDA GPU runs, refused when the run is validated (the web
    process cannot see the worker's GPU, so they need ``device`` set to 'cuda')."""
    if config.qlora and not config.lora:
        raise ValueError("qlora: QLoRA trains LoRA adapters over the 4-bit base; set lora to true as well")
    if config.qlora and config.device != "cuda":
        raise ValueError(f"qlora: 4-bit QLoRA runs on CUDA GPUs only (bitsandbytes' 4-bit kernels have no "
                         f"CPU path here); set device to 'cuda' for a GPU worker, not {config.device!r}")
    if config.attn_implementation == "flash_attention_2" and config.device != "cuda":
        raise ValueError(f"attn_implementation: flash_attention_2 runs on CUDA GPUs only; set device to "
                         f"'cuda' or use 'sdpa', not device {config.device!r}")
