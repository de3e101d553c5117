"""From one item's labels to preference pairs. Pure functions, no Django.

Pairwise labels are strengths in canonical order (−2 A ≫ B … 2 B ≫ A);
rankings give one rank per canonical position (1 is best).
"""

from dataclasses import dataclass
from itertools import combinations
from statistics import mean

TIE_BAND = 0.5  # |mean strength| below this is a tie under the "mean" method


@dataclass(frozen=True)
class PairOutcome:
    """Canonical positions ``winner`` over ``loser``; for a tie the order is canonical."""

    winner: int
    loser: int
    margin: float
    is_tie: bool
    agreement: float


def pairwise_consensus(strengths: list[int], *, method: str) -> PairOutcome | None:
    """The consensus of one pairwise item, or None without usable labels.

    majority: plurality of A / tie / B (a split vote is a tie); margin is the
    mean |strength| of the winning side. mean: the mean strength m, a tie when
    |m| < 0.5, margin |m|. agreement is the share of labels on the winning side.
    """
    if not strengths:
        return None
    signs = [(s > 0) - (s < 0) for s in strengths]
    if method == "majority":
        votes = {side: signs.count(side) for side in (-1, 0, 1)}
        top = max(votes.values())
        leaders = [side for side, n in votes.items() if n == top]
        side = leaders[0] if len(leaders) == 1 else 0
        winning = [abs(s) for s, g in zip(strengths, signs, strict=True) if g == side]
        margin = mean(winning) if side and winning else 0.0
    elif method == "mean":
        average = mean(strengths)
        side = 0 if abs(average) < TIE_BAND else (1 if average > 0 else -1)
        margin = abs(average) if side else 0.0
    else:
        raise ValueError(f"unknown consensus method '{method}'")
    agreement = signs.count(side) / len(signs)
    if side > 0:
        return PairOutcome(winner=1, loser=0, margin=float(margin), is_tie=False, agreement=agreement)
    if side < 0:
        return PairOutcome(winner=0, loser=1, margin=float(margin), is_tie=False, agreement=agreement)
    return PairOutcome(winner=0, loser=1, margin=0.0, is_tie=True, agreement=agreement)


def pairwise_from_side(decision: tuple[int, float] | None,
                       strengths: list[int]) -> PairOutcome | None:
    """An outcome from a side decided elsewhere (e.g. a Dawid–Skene posterior):
    ``decision`` is (−1 A / 0 tie / 1 B, confidence); margin is the mean
    |strength| of the labels on that side; agreement is the confidence."""
    if decision is None or not strengths:
        return None
    side, confidence = decision
    winning = [abs(s) for s in strengths if (s > 0) - (s < 0) == side]
    margin = float(mean(winning)) if side and winning else 0.0
    if side == 0:
        return PairOutcome(winner=0, loser=1, margin=0.0, is_tie=True, agreement=confidence)
    winner = 1 if side > 0 else 0
    return PairOutcome(winner=winner, loser=1 - winner, margin=margin, is_tie=False,
                       agreement=confidence)


def ranking_pairs(rankings: list[list[int]], weights: list[float] | None = None) -> list[PairOutcome]:
    """All C(K, 2) pairs of a ranked item from its labelers' rankings.

    Each pair is decided by the (weighted) mean rank of its two responses;
    equal means are ties. ``weights`` are per ranking (the labelers'
    reliability for the weighted-rank consensus; all 0 falls back to equal
    weights). margin is the difference of mean ranks; agreement is the
    (weighted) share of labelers ordering the pair the same way as the
    consensus (ties count for a tie).
    """
    if not rankings:
        return []
    k = len(rankings[0])
    w = list(weights) if weights is not None and sum(weights) > 0 else [1.0] * len(rankings)
    total = sum(w)
    # Rounded so float noise in a weighted sum cannot split a true tie.
    mean_rank = [round(sum(wt * r[i] for wt, r in zip(w, rankings, strict=True)) / total, 9)
                 for i in range(k)]
    outcomes = []
    for i, j in combinations(range(k), 2):
        side = (mean_rank[i] > mean_rank[j]) - (mean_rank[i] < mean_rank[j])  # 1: j better
        agree = sum(wt for wt, r in zip(w, rankings, strict=True)
                    if ((r[i] > r[j]) - (r[i] < r[j])) == side) / total
        winner, loser = (j, i) if side > 0 else (i, j)
        outcomes.append(PairOutcome(winner=winner, loser=loser,
                                    margin=float(abs(mean_rank[i] - mean_rank[j])),
                                    is_tie=side == 0, agreement=agree))
    return outcomes
