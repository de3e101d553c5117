"""Win rates and bootstrap intervals. Framework-free: arrays in, numbers out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval over ``n`` units."""

    estimate: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n}


def win_scores(first: ArrayLike, second: ArrayLike) -> np.ndarray:
    """1 where ``first`` scores higher, 0 where lower, ½ for a tie (equal scores)."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"score arrays differ in shape: {a.shape} vs {b.shape}")
    return np.where(a > b, 1.0, np.where(a < b, 0.0, 0.5))


def group_means(values: ArrayLike, groups: ArrayLike) -> np.ndarray:
    """The mean of ``values`` per group, in order of first appearance.

    Several samples of one prompt are not independent draws of the win rate:
    the bootstrap resamples prompts (their mean), not samples.
    """
    array = np.asarray(values, dtype=np.float64)
    return np.array([array[indices].mean() for indices in group_members(groups)], dtype=np.float64)


def group_members(groups: ArrayLike) -> list[list[int]]:
    """The indices of each group's members, groups in order of first appearance."""
    order: dict[int, list[int]] = {}
    for index, group in enumerate(np.asarray(groups).tolist()):
        order.setdefault(group, []).append(index)
    return list(order.values())


def bootstrap_ci(values: ArrayLike, *, resamples: int = 2000, level: float = 0.95,
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


def bootstrap_indices(n: int, *, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` × ``n`` prompt indices drawn with replacement.

    Drawn once and shared by every judge (a *paired* bootstrap): each resample
    is the same set of prompts for all of them, so two judges' intervals differ
    only by what the judges said, never by which prompts happened to be drawn.
    """
    if n < 1 or resamples < 1:
        raise ValueError("bootstrap_indices needs n ≥ 1 and resamples ≥ 1")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def paired_bootstrap(per_prompt: dict[str, ArrayLike], *, resamples: int = 2000,
                     level: float = 0.95, seed: int = 0) -> dict[str, Interval]:
    """The mean and percentile interval of each series of per-prompt values,
    all resampled with the same prompt indices (see ``bootstrap_indices``).

    Every series must have one value per prompt, in the same prompt order.
    """
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in per_prompt.items()}
    sizes = {a.size for a in arrays.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError("paired_bootstrap needs non-empty series of one length (one value per prompt)")
    n = sizes.pop()
    if n == 1:
        return {name: Interval(float(a[0]), float(a[0]), float(a[0]), 1) for name, a in arrays.items()}
    indices = bootstrap_indices(n, resamples=resamples, seed=seed)
    out = {}
    for name, data in arrays.items():
        means = data[indices].mean(axis=1)
        low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
        out[name] = Interval(float(data.mean()), float(low), float(high), n)
    return out


# Length-controlled win rate ------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def logistic_fit(features: np.ndarray, targets: np.ndarray, *, ridge: float = 1.0,
                 intercept_ridge: float = 1e-4, iterations: int = 100) -> np.ndarray:
    """Coefficients of P(y = 1) = σ(X·θ), fitted by Newton's method on the
    cross-entropy plus ridge·θⱼ²/2 on the slopes (column 0 is the intercept,
    penalized only by the tiny ``intercept_ridge``).

    Targets may be fractional (a tie is ½): the loss is the same binary
    cross-entropy with soft labels. The penalties keep θ finite when every
    answer is a win (perfect separation) and leave the intercept, the rate at
    equal lengths, essentially unshrunk.
    """
    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    theta = np.zeros(X.shape[1])
    penalty = np.full(X.shape[1], float(ridge))
    penalty[0] = intercept_ridge
    for _ in range(iterations):
        p = _sigmoid(X @ theta)
        gradient = X.T @ (p - y) + penalty * theta
        hessian = (X * (p * (1 - p))[:, None]).T @ X + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= np.clip(step, -5.0, 5.0)  # damped: separation sends θ₀ far
        if np.abs(step).max() < 1e-10:
            break
    return theta


def length_features(length_difference: ArrayLike) -> np.ndarray:
    """[1, tanh(Δ / sd(Δ))] per comparison, Δ = policy length − reference length.

    The tanh of the standardized difference is AlpacaEval's length term: it
    saturates, so a few very long answers do not dominate the fit.
    """
    d = np.asarray(length_difference, dtype=np.float64)
    scale = d.std()
    x = np.tanh(d / scale) if scale > 0 else np.zeros_like(d)
    return np.column_stack([np.ones_like(d), x])


def lc_win_rate(wins: ArrayLike, length_difference: ArrayLike, *, ridge: float = 1.0) -> float:
    """The length-controlled win rate, as AlpacaEval 2.0 computes it: regress
    the judge's preference for the policy on the length difference,

        P(policy preferred) = σ(θ₀ + θ₁ · tanh(Δ / sd(Δ))),

    and report σ(θ₀): the win rate the judge would give at equal lengths.
    A judge that only rewards length gets ≈ 50%; one that rewards the content
    keeps its rate whatever the lengths did.
    """
    theta = logistic_fit(length_features(length_difference), np.asarray(wins, dtype=np.float64),
                         ridge=ridge)
    return float(_sigmoid(np.array(theta[0])))


def lc_bootstrap(wins: ArrayLike, length_difference: ArrayLike, groups: ArrayLike, *,
                 resamples: int = 2000, level: float = 0.95, seed: int = 0,
                 max_fits: int = 400) -> Interval:
    """The LC win rate with a percentile interval from resampling *prompts*
    (all of a prompt's comparisons together), with the same indices as
    ``paired_bootstrap`` for the same seed. Each resample refits the
    regression, so at most ``max_fits`` of the resamples are refitted."""
    scores = np.asarray(wins, dtype=np.float64)
    diff = np.asarray(length_difference, dtype=np.float64)
    estimate = lc_win_rate(scores, diff)
    members = group_members(groups)
    n = len(members)
    if n == 1:
        return Interval(estimate, estimate, estimate, 1)
    indices = bootstrap_indices(n, resamples=resamples, seed=seed)[:max_fits]
    rates = np.empty(len(indices))
    for row, drawn in enumerate(indices):
        picked = np.concatenate([members[i] for i in drawn])
        rates[row] = lc_win_rate(scores[picked], diff[picked])
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(low), float(high), n)
