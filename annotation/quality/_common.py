"""Input checks and small array helpers shared by the quality modules.

Nothing here is public API; the conventions it enforces are described in the
package docstring (``annotation/quality/__init__.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def as_reliability_matrix(reliability_data: npt.ArrayLike, *, name: str = "reliability_data") -> FloatArray:
    """``reliability_data`` as a float64 (annotators × items) matrix; NaN marks a missing value.

    Raises ValueError for a non-2-D input or an infinite value.
    """
    data = np.asarray(reliability_data, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"{name} must be 2-D (annotators × items), got shape {data.shape}")
    if np.isinf(data).any():
        raise ValueError(f"{name} contains an infinite value; use NaN for missing values")
    return data


def as_vector(values: npt.ArrayLike, *, name: str, dtype: Any = None) -> np.ndarray:
    """A 1-D array (a scalar or nested input raises ValueError)."""
    arr = np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def as_finite_vector(values: npt.ArrayLike, *, name: str) -> FloatArray:
    """A 1-D float64 array with no NaN or infinity."""
    arr = as_vector(values, name=name, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return arr


def as_id_vector(values: npt.ArrayLike, *, name: str) -> np.ndarray:
    """A 1-D array of ids (integers or strings); NaN ids are rejected."""
    arr = as_vector(values, name=name)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must not contain NaN or infinity")
    elif arr.dtype.kind not in "iuUSbO":
        raise ValueError(f"{name} must hold integer or string ids, got dtype {arr.dtype}")
    return arr


def check_lengths(**arrays: np.ndarray) -> int:
    """The common length of the named 1-D arrays (ValueError when they differ)."""
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"arrays must have the same length ({detail})")
    return next(iter(lengths.values()), 0)


def encode(values: np.ndarray) -> tuple[np.ndarray, IntArray]:
    """Sorted unique values and each element's index into them."""
    uniques, inverse = np.unique(values, return_inverse=True)
    return uniques, inverse.astype(np.int64, copy=False).reshape(-1)


def encode_with_domain(values: np.ndarray, domain: np.ndarray, *, name: str) -> IntArray:
    """Index of each value in the sorted, duplicate-free ``domain`` (ValueError if one is absent)."""
    if len(domain) == 0:
        if len(values):
            raise ValueError(f"{name} contains values outside the given domain")
        return np.zeros(0, dtype=np.int64)
    codes = np.searchsorted(domain, values)
    codes = np.minimum(codes, len(domain) - 1)
    if len(values) and not np.array_equal(domain[codes], values):
        bad = values[domain[codes] != values][:5]
        raise ValueError(f"{name} contains values outside the given domain, e.g. {bad.tolist()}")
    return codes.astype(np.int64, copy=False)


def sorted_domain(values: npt.ArrayLike, *, name: str) -> FloatArray:
    """A user-supplied value domain: 1-D, finite, strictly increasing after sorting, no duplicates."""
    domain = as_finite_vector(values, name=name)
    ordered = np.sort(domain)
    if len(ordered) > 1 and (np.diff(ordered) == 0).any():
        raise ValueError(f"{name} contains duplicate values")
    return ordered


def float_domain(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Sorted distinct values of a finite float vector and each value's code.

    Integral values within a modest range are encoded in O(n) with ``bincount``;
    anything else falls back to ``np.unique`` (a sort).
    """
    if len(values) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    lo = float(values.min())
    hi = float(values.max())
    if hi - lo <= 1_000_000 and lo == math.floor(lo):
        offsets = values - lo
        as_int = offsets.astype(np.int64)
        if np.array_equal(as_int, offsets):
            present = np.bincount(as_int) > 0
            remap = np.cumsum(present) - 1
            domain = (np.flatnonzero(present) + lo).astype(np.float64)
            return domain, remap[as_int].astype(np.int64, copy=False)
    return encode(values)


def none_if_nan(value: float) -> float | None:
    """``None`` for NaN, else a plain Python float."""
    return None if math.isnan(value) else float(value)


def nan_to_none(array: np.ndarray) -> list:
    """A (nested) list with NaN replaced by None, ready for JSON."""
    if array.ndim == 0:
        return none_if_nan(float(array))  # type: ignore[return-value]
    if array.ndim == 1:
        if array.dtype.kind == "f":
            return [None if math.isnan(v) else float(v) for v in array.tolist()]
        return array.tolist()
    return [nan_to_none(row) for row in array]


def check_probability(value: float, *, name: str, open_interval: bool = True) -> float:
    """A float in (0, 1) (or [0, 1] when ``open_interval`` is false)."""
    value = float(value)
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        raise ValueError(f"{name} must be in {'(0, 1)' if open_interval else '[0, 1]'}, got {value}")
    return value


def group_sizes_and_starts(sorted_groups: IntArray, n_groups: int) -> tuple[IntArray, IntArray]:
    """Per-group size and start offset for an array already sorted by group index."""
    sizes = np.bincount(sorted_groups, minlength=n_groups).astype(np.int64)
    starts = np.zeros(n_groups, dtype=np.int64)
    if n_groups:
        np.cumsum(sizes[:-1], out=starts[1:])
    return sizes, starts


def within_group_pairs(sizes: IntArray, starts: IntArray) -> tuple[IntArray, IntArray]:
    """All pairs (i, j), i < j, of positions that share a group, for data sorted by group.

    Groups are processed by size, so the work is vectorized: one ``triu_indices``
    per distinct group size.
    """
    firsts: list[np.ndarray] = []
    seconds: list[np.ndarray] = []
    for size in np.unique(sizes):
        if size < 2:
            continue
        group_starts = starts[sizes == size]
        upper_i, upper_j = np.triu_indices(int(size), k=1)
        firsts.append((group_starts[:, None] + upper_i[None, :]).reshape(-1))
        seconds.append((group_starts[:, None] + upper_j[None, :]).reshape(-1))
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    return np.concatenate(firsts), np.concatenate(seconds)
