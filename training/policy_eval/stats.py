"""Win rates and bootstrap intervals. Framework-free: arrays in, numbers out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval over ``n`` units."""

    estimate: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n}


def win_scores(first: Sequence[float], second: Sequence[float]) -> np.ndarray:
    """1 where ``first`` scores higher, 0 where lower, ½ for a tie (equal scores)."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"score arrays differ in shape: {a.shape} vs {b.shape}")
    return np.where(a > b, 1.0, np.where(a < b, 0.0, 0.5))


def group_means(values: Sequence[float], groups: Sequence[int]) -> np.ndarray:
    """The mean of ``values`` per group, in order of first appearance.

    Several samples of one prompt are not independent draws of the win rate:
    the bootstrap resamples prompts (their mean), not samples.
    """
    values = np.asarray(values, dtype=np.float64)
    order: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        order.setdefault(group, []).append(index)
    return np.array([values[indices].mean() for indices in order.values()], dtype=np.float64)


def bootstrap_ci(values: Sequence[float], *, resamples: int = 2000, level: float = 0.95,
                 seed: int = 0) -> Interval:
    """The mean of ``values`` and its percentile-bootstrap interval.

    ``resamples`` means of ``len(values)`` draws with replacement; the interval
    is their (1 − level)/2 and (1 + level)/2 quantiles. With one value the
    interval is that value: there is nothing to resample.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError("bootstrap_ci needs a non-empty 1-D sequence")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    estimate = float(data.mean())
    if data.size == 1:
        return Interval(estimate, estimate, estimate, 1)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    # In blocks: resamples × n indices at once would be large for big n.
    block = max(1, 2_000_000 // data.size)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        means[start:stop] = data[rng.integers(0, data.size, size=(stop - start, data.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(low), float(high), int(data.size))
