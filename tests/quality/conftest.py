"""Fixtures for the quality tests (the numeric ones need no database; the stored-consensus,
adjudication and recompute tests use the shared personas from tests/conftest.py)."""

import numpy as np
import pytest

from tests.quality.crowd import Crowd, simulate_crowd


def random_reliability(
    rng: np.random.Generator,
    *,
    annotators: int,
    items: int,
    missing: float,
    values: tuple[float, ...] = (-2, -1, 0, 1, 2),
    noise: int = 1,
) -> np.ndarray:
    """(annotators × items) labels around a hidden truth, NaN where missing."""
    truth = rng.integers(0, len(values), items)
    idx = np.clip(truth[None, :] + rng.integers(-noise, noise + 1, (annotators, items)), 0, len(values) - 1)
    data = np.asarray(values, dtype=np.float64)[idx]
    data[rng.random((annotators, items)) < missing] = np.nan
    return data


@pytest.fixture(scope="session")
def crowd() -> Crowd:
    return simulate_crowd()
