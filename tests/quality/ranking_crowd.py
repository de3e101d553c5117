"""A simulated crowd of K-way rankers with known behaviour (plain arrays, no database)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Careful labelers perceive each response's hidden quality plus Gaussian noise
# of this standard deviation (the qualities are standard normal).
CAREFUL_NOISE: tuple[float, ...] = (0.3, 0.45, 0.6, 0.75)
SHUFFLER = 100  # ranks uniformly at random
IN_DISPLAY_ORDER = 101  # ranks the responses in the order they were shown


@dataclass(frozen=True)
class RankingCrowd:
    """One row per annotation, plus the hidden truth per item."""

    items: np.ndarray
    labelers: np.ndarray
    rankings: np.ndarray  # (annotations × K), 1 is best, canonical positions
    display_orders: np.ndarray  # (annotations × K): display_orders[t, s] is shown in slot s
    seconds: np.ndarray
    truth: np.ndarray  # (items × K) true ranks


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1 for the highest score of each row."""
    return np.argsort(np.argsort(-scores, axis=1), axis=1) + 1


def simulate_ranking_crowd(*, n_items: int = 200, k: int = 4, per_item: int = 3,
                           seed: int = 11) -> RankingCrowd:
    """Items of ``k`` responses, each ranked by ``per_item`` distinct labelers of the crowd.

    Careful labeler ``l`` (ids 0..3) ranks by quality + N(0, CAREFUL_NOISE[l]^2);
    labeler 100 shuffles at random; labeler 101 ranks in display order. The
    display order is a uniform random permutation per annotation (as the queue
    gives). Everyone takes a plausible ~10–20 s per item, so that speed flags
    nobody and each bad ranker's flag is for how they rank.
    """
    rng = np.random.default_rng(seed)
    pool = np.array([*range(len(CAREFUL_NOISE)), SHUFFLER, IN_DISPLAY_ORDER])
    quality = rng.normal(size=(n_items, k))
    # Every labeler gets a near-equal share of items (as the queue's overlap gives).
    labelers = np.concatenate([rng.permutation(pool)[:per_item] for _ in range(n_items)])
    items = np.repeat(np.arange(n_items), per_item)
    n = len(items)
    display = np.array([rng.permutation(k) for _ in range(n)])
    rankings = np.empty((n, k), dtype=np.int64)
    for t in range(n):
        who = labelers[t]
        if who == SHUFFLER:
            rankings[t] = rng.permutation(k) + 1
        elif who == IN_DISPLAY_ORDER:
            rankings[t, display[t]] = np.arange(1, k + 1)
        else:
            noisy = quality[items[t]] + rng.normal(scale=CAREFUL_NOISE[who], size=k)
            rankings[t] = _ranks(noisy[None, :])[0]
    careful = labelers < SHUFFLER
    seconds = np.where(careful, rng.gamma(8.0, 2.5, n), rng.gamma(8.0, 1.5, n))
    return RankingCrowd(items=items, labelers=labelers, rankings=rankings, display_orders=display,
                        seconds=seconds, truth=_ranks(quality))
