"""Which two models fight next. Pure functions, no Django.

Chatbot Arena samples pairs with weights and steers new battles towards pairs
with few battles so every pair's interval narrows. Here a pair's target share
is proportional to ``w_i * w_j``; the next pair is the one furthest behind its
share — the smallest ``battles_ij / (w_i * w_j)`` — so after any number of
battles each pair is within one battle of its share (ties are drawn at random,
and so is which model sits on the left).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from itertools import combinations


def pair_key(a, b) -> tuple:
    """A pair as an unordered key (the smaller id first)."""
    return (a, b) if a <= b else (b, a)


def pair_next(*, weights: Mapping, counts: Mapping[tuple, int],
              rng: random.Random | None = None) -> tuple:
    """(model on the left, model on the right) for the next battle.

    ``weights``: model id → weight (a model with weight 0 is never drawn);
    ``counts``: ``pair_key`` → battles so far. ValueError with fewer than two
    drawable models.
    """
    rng = rng or random.Random()  # noqa: S311 - fairness, not secrecy
    models = sorted(m for m, w in weights.items() if w > 0)
    if len(models) < 2:
        raise ValueError("the pool needs at least two models with a positive weight")
    scored = [(counts.get(pair_key(a, b), 0) / (weights[a] * weights[b]), a, b)
              for a, b in combinations(models, 2)]
    lowest = min(score for score, _, _ in scored)
    candidates: Sequence = [(a, b) for score, a, b in scored if score <= lowest + 1e-12]
    a, b = rng.choice(candidates)
    return (a, b) if rng.random() < 0.5 else (b, a)
