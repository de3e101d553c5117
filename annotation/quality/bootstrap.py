"""Bootstrap confidence intervals over items for project-level figures.

The resampling unit is the item (comparison): a resample draws ``n`` items
with replacement from the ``n`` items, recomputes the figure, and the
interval is the percentile interval of the resampled figures. Seeded with
``numpy.random.default_rng(seed)``, so the same call gives the same interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from annotation.quality._common import IntArray, as_reliability_matrix, check_probability
from annotation.quality.agreement import Level, _alpha, _AlphaResampler, _check_level, _unit_values


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its percentile bootstrap interval.

    ``estimate`` is the figure on the full data; ``low``/``high`` the
    ``(1 - confidence)/2`` and ``(1 + confidence)/2`` quantiles over the
    resamples where the figure was defined (``n_defined`` of ``n_resamples``).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    n_defined: int

    def as_dict(self) -> dict:
        return asdict(self)


def _check_resampling(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    check_probability(confidence, name="confidence")


def _interval(
    estimate: float, samples: list[float], confidence: float, n_resamples: int
) -> ConfidenceInterval | None:
    if not samples:
        return None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(samples), [tail, 1.0 - tail])
    return ConfidenceInterval(
        estimate=float(estimate),
        low=float(low),
        high=float(high),
        confidence=confidence,
        n_resamples=n_resamples,
        n_defined=len(samples),
    )


def bootstrap_ci(
    *,
    statistic: Callable[[IntArray], float | None],
    n_items: int,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval | None:
    """Percentile bootstrap interval of ``statistic`` resampling items.

    ``statistic(indices)`` computes the figure on the items ``indices`` (an
    int array of length ``n_items``, with repeats); the point estimate is
    ``statistic(np.arange(n_items))``. Resample ``b`` draws
    ``indices_b ~ Uniform{0..n_items-1}^n_items`` and the interval is
    ``[Q_{(1-c)/2}, Q_{(1+c)/2}]`` of ``{statistic(indices_b)}`` over the
    resamples where it is defined.

    Returns ``None`` when the point estimate is ``None`` (or ``n_items == 0``)
    or no resample is defined. A statistic must return ``None``, never NaN,
    when undefined (ValueError otherwise).
    """
    _check_resampling(n_resamples, confidence)
    if n_items < 0:
        raise ValueError("n_items must be non-negative")
    if n_items == 0:
        return None
    estimate = _checked(statistic(np.arange(n_items)))
    if estimate is None:
        return None
    rng = np.random.default_rng(seed)
    samples: list[float] = []
    for _ in range(n_resamples):
        value = _checked(statistic(rng.integers(0, n_items, n_items)))
        if value is not None:
            samples.append(value)
    return _interval(estimate, samples, confidence, n_resamples)


def _checked(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if np.isnan(value):
        raise ValueError("statistic returned NaN; return None for an undefined figure")
    return value


def reliability_bootstrap_ci(
    *,
    statistic: Callable[[np.ndarray], float | None],
    reliability_data: npt.ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval | None:
    """:func:`bootstrap_ci` for a figure of a reliability matrix: resamples its columns (items).

    ``statistic`` receives an (annotators × resampled items) matrix, e.g.
    ``lambda d: fleiss_kappa(reliability_data=d, raters_per_item=3)``.
    """
    data = as_reliability_matrix(reliability_data)
    return bootstrap_ci(
        statistic=lambda idx: statistic(data[:, idx]),
        n_items=data.shape[1],
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )


def krippendorff_alpha_ci(
    *,
    reliability_data: npt.ArrayLike | None = None,
    counts: npt.ArrayLike | None = None,
    level: Level = "nominal",
    value_domain: npt.ArrayLike | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval | None:
    """Krippendorff's alpha with a percentile bootstrap interval over items.

    The resampled items are the pairable ones (two or more values); other
    items contribute nothing to alpha. Alpha is additive in per-item terms, so
    a resample is evaluated by weighting each item by its multiplicity
    ``w_u`` (``o = sum_u w_u o_u``) instead of copying data; the ordinal
    distances are recomputed from each resample's marginals. (Krippendorff's
    own bootstrap resamples pairable values instead of items.)

    ``None`` when alpha is undefined on the full data.
    """
    level = _check_level(level)
    _check_resampling(n_resamples, confidence)
    uv = _unit_values(reliability_data, counts, value_domain)
    estimate = _alpha(uv, level)
    if estimate is None:
        return None
    resampler = _AlphaResampler(uv, level)
    n_pairable = len(resampler.items)
    rng = np.random.default_rng(seed)
    samples: list[float] = []
    for _ in range(n_resamples):
        drawn = rng.integers(0, n_pairable, n_pairable)
        value = resampler.alpha(np.bincount(drawn, minlength=n_pairable).astype(np.float64))
        if value is not None:
            samples.append(value)
    return _interval(estimate, samples, confidence, n_resamples)
