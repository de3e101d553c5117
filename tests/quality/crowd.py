"""A simulated crowd of pairwise labelers with known behaviour (plain arrays, no database)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Honest labelers' probability of reporting the true A / tie / B class.
HONEST_ACCURACIES: tuple[float, ...] = (0.92, 0.85, 0.78, 0.71, 0.64, 0.57)
RANDOM_SPAMMER = 100
ALWAYS_LEFT = 101


@dataclass(frozen=True)
class Crowd:
    """One row per annotation, plus the hidden truth per item."""

    items: np.ndarray
    labelers: np.ndarray
    strengths: np.ndarray  # canonical -2..2
    collapsed: np.ndarray  # -1 / 0 / 1
    a_first: np.ndarray  # True where A was shown first (left)
    seconds: np.ndarray
    length_a: np.ndarray
    length_b: np.ndarray
    truth: np.ndarray  # per item, -1 / 0 / 1
    accuracies: dict[int, float]


def simulate_crowd(*, n_items: int = 1500, per_item: int = 5, seed: int = 7) -> Crowd:
    """Items with a hidden A/tie/B truth labeled by ``per_item`` labelers drawn from the crowd.

    Honest labeler ``l`` (ids 0..5) reports the truth with probability
    ``HONEST_ACCURACIES[l]``, otherwise one of the two other classes uniformly,
    with strength 1 or 2 in the reported direction. Labeler 100 answers
    uniformly at random; labeler 101 always prefers the response shown first.
    Display order is randomized per annotation; response lengths are
    independent of quality. Honest labelers take ~20 s per item, the
    spammers ~2 s.
    """
    rng = np.random.default_rng(seed)
    labeler_pool = np.array([*range(len(HONEST_ACCURACIES)), RANDOM_SPAMMER, ALWAYS_LEFT])
    truth = rng.choice(np.array([-1, 0, 1]), size=n_items, p=[0.45, 0.1, 0.45])
    items, labelers = [], []
    for item in range(n_items):
        chosen = rng.choice(labeler_pool, size=per_item, replace=False)
        items.extend([item] * per_item)
        labelers.extend(chosen.tolist())
    items_arr = np.array(items)
    labelers_arr = np.array(labelers)
    n = len(items_arr)
    a_first = rng.random(n) < 0.5
    collapsed = np.empty(n, dtype=np.int64)
    for t in range(n):
        who, true = labelers_arr[t], truth[items_arr[t]]
        if who == RANDOM_SPAMMER:
            collapsed[t] = rng.integers(-1, 2)
        elif who == ALWAYS_LEFT:
            collapsed[t] = -1 if a_first[t] else 1
        elif rng.random() < HONEST_ACCURACIES[who]:
            collapsed[t] = true
        else:
            collapsed[t] = rng.choice([c for c in (-1, 0, 1) if c != true])
    strengths = collapsed * rng.integers(1, 3, n)
    honest = labelers_arr < RANDOM_SPAMMER
    seconds = np.where(honest, rng.gamma(8.0, 2.5, n), rng.gamma(4.0, 0.5, n))
    # Response lengths are independent of quality, so no honest labeler shows a length bias.
    length_a = rng.integers(200, 1200, n_items)
    length_b = rng.integers(200, 1200, n_items)
    return Crowd(
        items=items_arr,
        labelers=labelers_arr,
        strengths=strengths.astype(np.float64),
        collapsed=collapsed,
        a_first=a_first,
        seconds=seconds,
        length_a=length_a[items_arr],
        length_b=length_b[items_arr],
        truth=truth,
        accuracies={i: acc for i, acc in enumerate(HONEST_ACCURACIES)},
    )
