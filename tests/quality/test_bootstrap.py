"""Bootstrap intervals over items."""

import numpy as np
import pytest

from annotation.quality import (
    bootstrap_ci,
    fleiss_kappa,
    krippendorff_alpha,
    krippendorff_alpha_ci,
    reliability_bootstrap_ci,
)
from tests.quality.conftest import random_reliability

LEVELS = ("nominal", "ordinal", "interval")


@pytest.mark.parametrize("level", LEVELS)
def test_fast_alpha_interval_equals_recomputing_alpha_on_resampled_items(level):
    # Every item holds at least two values, so both resample the same items with the same draws.
    rng = np.random.default_rng(2)
    data = random_reliability(rng, annotators=4, items=150, missing=0.0)
    fast = krippendorff_alpha_ci(reliability_data=data, level=level, n_resamples=200, seed=9)
    slow = reliability_bootstrap_ci(
        statistic=lambda d: krippendorff_alpha(reliability_data=d, level=level),
        reliability_data=data,
        n_resamples=200,
        seed=9,
    )
    assert fast.estimate == pytest.approx(krippendorff_alpha(reliability_data=data, level=level), abs=1e-12)
    assert fast.low == pytest.approx(slow.low, abs=1e-9)
    assert fast.high == pytest.approx(slow.high, abs=1e-9)


def test_alpha_interval_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(3)
    data = random_reliability(rng, annotators=5, items=400, missing=0.3)
    first = krippendorff_alpha_ci(reliability_data=data, level="ordinal", n_resamples=300, seed=1)
    again = krippendorff_alpha_ci(reliability_data=data, level="ordinal", n_resamples=300, seed=1)
    other = krippendorff_alpha_ci(reliability_data=data, level="ordinal", n_resamples=300, seed=2)
    assert first == again
    assert first != other
    assert first.low < first.estimate < first.high
    assert first.n_defined == 300 and first.confidence == 0.95


def test_alpha_interval_is_none_when_alpha_is_undefined():
    assert krippendorff_alpha_ci(reliability_data=[[1, 1, 1], [1, 1, 1]]) is None
    assert krippendorff_alpha_ci(reliability_data=[[1, 2, 3]]) is None


def test_generic_interval_of_fleiss_kappa():
    rng = np.random.default_rng(4)
    data = random_reliability(rng, annotators=3, items=200, missing=0.0)
    ci = reliability_bootstrap_ci(
        statistic=lambda d: fleiss_kappa(reliability_data=d), reliability_data=data, n_resamples=200
    )
    assert ci.estimate == pytest.approx(fleiss_kappa(reliability_data=data))
    assert ci.low < ci.estimate < ci.high


def test_bootstrap_of_a_mean_matches_its_normal_approximation():
    values = np.random.default_rng(5).normal(size=2000)
    ci = bootstrap_ci(statistic=lambda idx: float(values[idx].mean()), n_items=len(values), n_resamples=2000)
    half_width = 1.96 * values.std() / np.sqrt(len(values))
    assert ci.high - ci.low == pytest.approx(2 * half_width, rel=0.1)


def test_bootstrap_skips_undefined_resamples_and_counts_them():
    calls = iter(range(10_000))
    ci = bootstrap_ci(
        statistic=lambda idx: None if next(calls) % 2 else 1.0, n_items=5, n_resamples=10
    )
    assert ci.n_defined == 5 and ci.low == ci.high == 1.0


def test_bootstrap_of_nothing_is_none():
    assert bootstrap_ci(statistic=lambda idx: 1.0, n_items=0) is None
    assert bootstrap_ci(statistic=lambda idx: None, n_items=3) is None


def test_bootstrap_refuses_a_statistic_that_returns_nan():
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci(statistic=lambda idx: float("nan"), n_items=3)


def test_bootstrap_rejects_bad_parameters():
    with pytest.raises(ValueError):
        bootstrap_ci(statistic=lambda idx: 1.0, n_items=3, confidence=1.0)
    with pytest.raises(ValueError):
        bootstrap_ci(statistic=lambda idx: 1.0, n_items=3, n_resamples=0)


@pytest.mark.parametrize("level", LEVELS)
def test_sparse_alpha_resampler_equals_the_dense_one(level, monkeypatch):
    from annotation.quality import agreement

    rng = np.random.default_rng(6)
    data = random_reliability(rng, annotators=5, items=120, missing=0.2)
    dense = krippendorff_alpha_ci(reliability_data=data, level=level, n_resamples=50)
    monkeypatch.setattr(agreement, "_DENSE_CELLS", 0)
    sparse = krippendorff_alpha_ci(reliability_data=data, level=level, n_resamples=50)
    assert sparse.low == pytest.approx(dense.low, abs=1e-9)
    assert sparse.high == pytest.approx(dense.high, abs=1e-9)


def test_alpha_interval_on_continuous_values():
    rng = np.random.default_rng(7)
    data = rng.normal(size=(4, 3000)) + rng.normal(size=3000)
    ci = krippendorff_alpha_ci(reliability_data=data, level="interval", n_resamples=50)
    assert ci.low < ci.estimate < ci.high
