"""Flat names and values for trackers, which take flat key → scalar maps."""

from __future__ import annotations

import math


def params_flatten(values: dict, *, prefix: str = "") -> dict[str, str]:
    """Nested dicts become dotted names; every value a string (MLflow params are strings)."""
    out: dict[str, str] = {}
    for key, value in (values or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(params_flatten(value, prefix=f"{name}."))
        else:
            out[name] = "" if value is None else str(value)[:6000]
    return out


def metrics_flatten(values: dict, *, prefix: str = "") -> dict[str, float]:
    """The finite numbers of ``values`` (nested dicts as dotted names); booleans,
    text and NaN are left out, trackers refuse or misplot them."""
    out: dict[str, float] = {}
    for key, value in (values or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(metrics_flatten(value, prefix=f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out
