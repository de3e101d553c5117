"""Per-labeler reliability of K-way rankings, and the weights of the weighted consensus.

Rankings follow ``Annotation.ranking`` (position ``i``: the rank of canonical
response ``i``, smaller is better, equal values tie); ``display_order[s]`` is
the canonical response shown in screen slot ``s`` (the queue shuffles it
uniformly at random for every assignment).

Three signals per labeler:

* **leave-one-out agreement**: Kendall's tau-b between a labeler's ranking and
  the (weighted) mean rank of the *other* labelers of the same item, averaged
  over the labeler's items. A careful labeler scores well above 0; one who
  shuffles at random scores about 0.
* **position bias**: the share of decided pairs ranked in favour of the
  response shown earlier. With a uniformly random display order it is 0.5
  whatever the labeler thinks of the content; a labeler who ranks in the order
  shown scores 1.
* **reliability weight**: ``max(0, leave-one-out tau-b)``, zero for a
  position-biased or random labeler (their order reflects the screen or
  chance, not the content).
  Weights and the consensus they define are fitted together: the
  leave-one-out consensus uses the current weights, so an unreliable labeler
  stops diluting the consensus the others are judged against (a few fixed-point
  rounds; it settles in two or three on simulated crowds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotation.quality._common import (
    BoolArray,
    FloatArray,
    IntArray,
    as_id_vector,
    check_lengths,
    encode,
    nan_to_none,
)
from annotation.quality.ranking_groups import length_groups, pair_signs
from annotation.quality.reliability import ShareSummary

ROUNDS = 4


@dataclass(frozen=True)
class RankingReliability:
    """Per ``labeler_ids[l]``: ``n`` rankings; ``loo_tau_b`` the mean tau-b with the
    weighted consensus of the others over the ``n_loo`` items where it is defined
    (NaN when none); ``first_share`` the share of decided pairs ranked for the
    response shown earlier, ``first_z`` its z against 0.5 (NaN where the labeler
    decided no pair); ``position_flagged``, ``random_flagged`` and ``weight``.
    ``annotation_weight[t]`` is ``weight`` of annotation ``t``'s labeler.
    ``position`` is the project-level figure over every ranking, with
    ``drivers`` the labelers significantly biased the same way.
    """

    labeler_ids: np.ndarray
    n: IntArray
    loo_tau_b: FloatArray
    n_loo: IntArray
    first_share: FloatArray
    first_z: FloatArray
    position_flagged: BoolArray
    random_flagged: BoolArray
    weight: FloatArray
    annotation_weight: FloatArray
    position: ShareSummary
    position_drivers: np.ndarray

    def as_dict(self) -> dict:
        return {
            "labeler_ids": self.labeler_ids.tolist(),
            "n": self.n.tolist(),
            "loo_tau_b": nan_to_none(self.loo_tau_b),
            "n_loo": self.n_loo.tolist(),
            "first_share": nan_to_none(self.first_share),
            "first_z": nan_to_none(self.first_z),
            "position_flagged": self.position_flagged.tolist(),
            "random_flagged": self.random_flagged.tolist(),
            "weight": self.weight.tolist(),
            "position": self.position.as_dict() | {"drivers": self.position_drivers.tolist()},
        }


def _rows(rankings: Sequence[npt.ArrayLike], n: int) -> list[FloatArray]:
    if len(rankings) != n:
        raise ValueError("rankings must have one entry per annotation")
    rows = [np.asarray(r, dtype=np.float64).reshape(-1) for r in rankings]
    if any(not np.isfinite(r).all() for r in rows):
        raise ValueError("rankings must be finite")
    return rows


def _tau_b_rows(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise Kendall's tau-b of two (rows × K) score arrays (NaN where undefined)."""
    sa, sb = pair_signs(a), pair_signs(b)
    untied_a = (sa != 0).sum(axis=1)
    untied_b = (sb != 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((untied_a > 0) & (untied_b > 0),
                        (sa * sb).sum(axis=1) / np.sqrt(untied_a * untied_b.astype(np.float64)), np.nan)


def leave_one_out_tau_b(
    *, items: npt.ArrayLike, rankings: Sequence[npt.ArrayLike], weights: npt.ArrayLike | None = None
) -> FloatArray:
    """Per annotation ``t``: tau-b between ``rankings[t]`` and the others' weighted mean rank.

    For item ``i`` with rankings ``r_s`` and weights ``w_s``::

        others_t = sum_{s != t} w_s r_s / sum_{s != t} w_s

    NaN where undefined: no other labeler with positive weight, or either side
    all tied. ``weights`` defaults to 1 for every annotation.
    """
    item_arr = as_id_vector(items, name="items")
    rows = _rows(rankings, len(item_arr))
    w = np.ones(len(item_arr)) if weights is None else np.asarray(weights, dtype=np.float64)
    check_lengths(items=item_arr, weights=w)
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and non-negative")
    _, item = encode(item_arr)
    out = np.full(len(item_arr), np.nan)
    for group in length_groups(item, rows):
        if group.length < 2:
            continue
        wm = w[group.members]
        total_w, sums = group.weighted_sums(wm)
        rest_w = total_w[group.local] - wm
        has_others = rest_w > 1e-12
        with np.errstate(invalid="ignore", divide="ignore"):
            # Rounded: subtracting one's own ranking from the item sum leaves float
            # noise that would break the others' true ties.
            others = np.round((sums[group.local] - wm[:, None] * group.rows) / rest_w[:, None], 9)
        tau = _tau_b_rows(group.rows[has_others], others[has_others])
        out[group.members[has_others]] = tau
    return out


def _position_shares(
    rows: list[FloatArray], orders: list[FloatArray]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per ranking: share of decided pairs for the earlier-shown response, the number of
    decided pairs, and the share's variance under a uniformly random display order.
    Vectorized over the rankings of each length."""
    share = np.full(len(rows), np.nan)
    decided = np.zeros(len(rows))
    variance = np.full(len(rows), np.nan)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    if any(len(o) != len(r) for r, o in zip(rows, orders, strict=True)):
        raise ValueError("each display order must list every response of its ranking once")
    for k in np.unique(lengths):
        members = np.flatnonzero(lengths == k)
        if k < 2:
            continue
        ranking = np.stack([rows[t] for t in members])
        order = np.stack([orders[t] for t in members])
        if not (np.sort(order, axis=1) == np.arange(k)).all():
            raise ValueError("each display order must list every response of its ranking once")
        slot = np.empty_like(ranking)  # slot[t, i]: where canonical response i was shown
        np.put_along_axis(slot, order.astype(np.int64), np.broadcast_to(np.arange(k, dtype=np.float64),
                                                                        order.shape), axis=1)
        pref = pair_signs(ranking)  # -1: i ranked better than j
        shown = pair_signs(slot)  # -1: i shown earlier than j
        keep = pref != 0
        n_decided = keep.sum(axis=1)
        ok = n_decided > 0
        decided[members] = n_decided
        share[members[ok]] = ((pref == shown) & keep).sum(axis=1)[ok] / n_decided[ok]
        # Without ties the share is (1 + tau) / 2 of tau between the ranking and a
        # uniformly random permutation: Var tau = 2 (2K + 5) / (9 K (K - 1)).
        # Ties only shrink it, so this variance is conservative for them.
        variance[members[ok]] = (2 * k + 5) / (18.0 * k * (k - 1))
    return share, decided, variance


def _z(share: float, variance_sum: float, n: float) -> float:
    """z of a mean of ``n`` per-ranking shares against 0.5."""
    return (share - 0.5) / math.sqrt(variance_sum / (n * n)) if n and variance_sum > 0 else 0.0


def ranking_reliability(
    *,
    items: npt.ArrayLike,
    labelers: npt.ArrayLike,
    rankings: Sequence[npt.ArrayLike],
    display_orders: Sequence[npt.ArrayLike] | None = None,
    random_below: float = 0.2,
    min_items: int = 10,
    min_effect: float = 0.1,
    overall_min_effect: float = 0.05,
    z_threshold: float = 3.0,
    rounds: int = ROUNDS,
) -> RankingReliability:
    """Leave-one-out agreement, position bias, flags and weights of ranking labelers.

    * ``position_flagged``: at least ``min_items`` rankings, ``|share - 0.5| >=
      min_effect`` and ``|z| >= z_threshold``, with ``share`` the mean over the
      labeler's rankings of their per-ranking share and ``z`` from the exact
      null variance of that share under a uniformly random display order (pairs
      of one ranking are not independent, so a pair-count z would overstate).
    * ``random_flagged``: at least ``min_items`` items with a defined
      leave-one-out tau-b, mean below ``random_below``, and not position-flagged
      (a labeler who ranks in display order disagrees with everyone for that
      reason, and is flagged as such).
    * ``weight``: ``max(0, loo_tau_b)`` (1 where undefined, i.e. too little
      overlap to judge), 0 when flagged either way; refitted for ``rounds`` rounds
      with the leave-one-out consensus weighted by the previous round.

    The project-level ``position`` figure flags at ``overall_min_effect`` (a
    dataset-wide shift is material at a smaller effect than one labeler's,
    and its ``n`` is large); its ``drivers`` are the labelers whose own share
    deviates in the same direction with ``|z| >= z_threshold``.
    """
    item_arr = as_id_vector(items, name="items")
    labeler_arr = as_id_vector(labelers, name="labelers")
    check_lengths(items=item_arr, labelers=labeler_arr)
    rows = _rows(rankings, len(item_arr))
    if min_items < 1 or z_threshold < 0 or min_effect < 0 or overall_min_effect < 0:
        raise ValueError("min_items must be positive; thresholds non-negative")
    labeler_ids, labeler = encode(labeler_arr)
    n_labelers = len(labeler_ids)
    n = np.bincount(labeler, minlength=n_labelers).astype(np.int64)

    first_share = np.full(n_labelers, np.nan)
    first_z = np.full(n_labelers, np.nan)
    position_flagged = np.zeros(n_labelers, dtype=bool)
    position = ShareSummary(n=0, share=None, expected=None, difference=None, z=None, flagged=False)
    drivers = labeler_ids[:0]
    if display_orders is not None:
        orders = _rows(display_orders, len(item_arr))
        share, decided, variance = _position_shares(rows, orders)
        ok = ~np.isnan(share)
        counts = np.bincount(labeler[ok], minlength=n_labelers).astype(np.float64)
        sums = np.bincount(labeler[ok], weights=share[ok], minlength=n_labelers)
        var_sums = np.bincount(labeler[ok], weights=variance[ok], minlength=n_labelers)
        for g in np.flatnonzero(counts):
            first_share[g] = sums[g] / counts[g]
            first_z[g] = _z(first_share[g], var_sums[g], counts[g])
        effect = np.abs(np.nan_to_num(first_share, nan=0.5) - 0.5)
        position_flagged = ((counts >= min_items) & (effect >= min_effect)
                            & (np.abs(np.nan_to_num(first_z)) >= z_threshold))
        if ok.any():
            total = float(ok.sum())
            overall = float(share[ok].mean())
            z = _z(overall, float(variance[ok].sum()), total)
            flagged = abs(overall - 0.5) >= overall_min_effect and abs(z) >= z_threshold
            position = ShareSummary(n=int(decided.sum()), share=overall, expected=0.5,
                                    difference=overall - 0.5, z=z, flagged=bool(flagged))
            same_way = np.sign(np.nan_to_num(first_share, nan=0.5) - 0.5) == np.sign(overall - 0.5)
            drivers = labeler_ids[same_way & (np.abs(np.nan_to_num(first_z)) >= z_threshold)]

    weight = np.where(position_flagged, 0.0, 1.0)
    loo = np.full(n_labelers, np.nan)
    n_loo = np.zeros(n_labelers, dtype=np.int64)
    for _ in range(max(1, rounds)):
        tau = leave_one_out_tau_b(items=item_arr, rankings=rows, weights=weight[labeler])
        ok = ~np.isnan(tau)
        n_loo = np.bincount(labeler[ok], minlength=n_labelers).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            loo = np.where(n_loo > 0, np.bincount(labeler[ok], weights=tau[ok], minlength=n_labelers)
                           / np.maximum(n_loo, 1), np.nan)
        weight = np.where(position_flagged, 0.0, np.where(np.isnan(loo), 1.0, np.clip(loo, 0.0, 1.0)))
    random_flagged = (n_loo >= min_items) & (np.nan_to_num(loo, nan=1.0) < random_below) & ~position_flagged
    # A flagged ranker's small positive tau is chance; counting it would only add noise.
    weight = np.where(random_flagged, 0.0, weight)
    return RankingReliability(
        labeler_ids=labeler_ids, n=n, loo_tau_b=loo, n_loo=n_loo, first_share=first_share,
        first_z=first_z, position_flagged=position_flagged, random_flagged=random_flagged,
        weight=weight, annotation_weight=weight[labeler], position=position,
        position_drivers=drivers,
    )
