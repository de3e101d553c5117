"""From candidate responses to comparison items. Pure functions, no Django.

A strategy takes the cleaned candidates of one prompt and returns groups of
candidate indices, each group one item in canonical order. Every group is
shuffled so that no model or sample index sits in position A by construction.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from generation import best_of_n


@dataclass(frozen=True)
class Candidate:
    model_name: str
    sample_index: int
    text: str
    finish_reason: str = "stop"
    completion_tokens: int = 0

    @property
    def truncated(self) -> bool:
        """Cut by max_tokens: kept, but marked for labelers and exports."""
        return self.finish_reason == "length"


def text_clean(text: str) -> str:
    """What is stored: without NUL (PostgreSQL text refuses it) or outer whitespace."""
    return text.replace("\x00", "").strip()


def _key(text: str) -> str:
    # Identical up to Unicode normalization, case and whitespace counts as identical.
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def candidates_clean(candidates: Sequence[Candidate]) -> tuple[list[Candidate], int]:
    """Drop empty responses and repeats of an earlier one; return (kept, dropped)."""
    kept, seen = [], set()
    for candidate in candidates:
        text = text_clean(candidate.text)
        key = _key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        kept.append(Candidate(candidate.model_name, candidate.sample_index, text,
                              candidate.finish_reason, candidate.completion_tokens))
    return kept, len(candidates) - len(kept)


def _shuffled(group: Sequence[int], rng: random.Random) -> tuple[int, ...]:
    group = list(group)
    rng.shuffle(group)
    return tuple(group)


def all_pairs(candidates: Sequence[Candidate], *, k: int, max_items: int | None,
              rng: random.Random) -> list[tuple[int, ...]]:
    """Every pair of samples (N·(N−1)/2 items); with ``max_items``, the first ones
    in a fixed order (use random_pairs for a uniform subset)."""
    pairs = list(itertools.combinations(range(len(candidates)), 2))
    if max_items is not None:
        pairs = pairs[:max_items]
    return [_shuffled(p, rng) for p in pairs]


def random_pairs(candidates: Sequence[Candidate], *, k: int, max_items: int | None,
                 rng: random.Random) -> list[tuple[int, ...]]:
    """A uniform random subset of ``max_items`` pairs (all when fewer exist)."""
    pairs = list(itertools.combinations(range(len(candidates)), 2))
    count = len(pairs) if max_items is None else min(max_items, len(pairs))
    chosen = sorted(rng.sample(range(len(pairs)), count))
    return [_shuffled(pairs[i], rng) for i in chosen]


def cross_model(candidates: Sequence[Candidate], *, k: int, max_items: int | None,
                rng: random.Random) -> list[tuple[int, ...]]:
    """Model X against model Y on the same prompt: pairs whose two responses come
    from different models, sample i of one with sample i of the other first,
    then the remaining cross pairs, up to ``max_items`` (default: one per
    sample index)."""
    by_model: dict[str, list[int]] = {}
    for index, candidate in enumerate(candidates):
        by_model.setdefault(candidate.model_name, []).append(index)
    if len(by_model) < 2:
        return []
    matched, others = [], []
    for x, y in itertools.combinations(sorted(by_model), 2):
        for i in by_model[x]:
            for j in by_model[y]:
                same = candidates[i].sample_index == candidates[j].sample_index
                (matched if same else others).append((i, j))
    limit = len(matched) if max_items is None else max_items
    return [_shuffled(p, rng) for p in (matched + others)[:limit]]


def ranking(candidates: Sequence[Candidate], *, k: int, max_items: int | None,
            rng: random.Random) -> list[tuple[int, ...]]:
    """K-way sets: the candidates shuffled and cut into disjoint groups of K
    (a remainder smaller than K is left out)."""
    order = list(range(len(candidates)))
    rng.shuffle(order)
    groups = [tuple(order[i:i + k]) for i in range(0, len(order) - k + 1, k)]
    return groups if max_items is None else groups[:max_items]


def single(candidates: Sequence[Candidate], *, k: int, max_items: int | None,
           rng: random.Random) -> list[tuple[int, ...]]:
    """One item per candidate (single-response feedback), in a shuffled order."""
    order = list(range(len(candidates)))
    rng.shuffle(order)
    groups = [(i,) for i in order]
    return groups if max_items is None else groups[:max_items]


Strategy = Callable[..., list[tuple[int, ...]]]
STRATEGIES: dict[str, Strategy] = {
    "all_pairs": all_pairs,
    "random_pairs": random_pairs,
    "cross_model": cross_model,
    "ranking": ranking,
    "single": single,
    best_of_n.NAME: best_of_n.best_of_n,
}
# Strategies that need each candidate's reward first: the job passes ``scores``.
SCORED_STRATEGIES = {best_of_n.NAME}
