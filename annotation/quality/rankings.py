"""Agreement between rankings: Kendall's tau-b for two raters, Kendall's W for many.

Rankings follow ``Annotation.ranking``: position ``i`` holds the rank (or any
score where smaller means better; only the order matters) of canonical
response ``i``; equal values are ties.
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
    group_sizes_and_starts,
    nan_to_none,
    within_group_pairs,
)


def _count_inversions(values: IntArray) -> int:
    """Pairs ``i < j`` with ``values[i] > values[j]``, for integer values in ``[0, n)``.

    Bottom-up merge sort with every merge level done at once: the right half
    of each block counts the left-half elements greater than it with one
    ``searchsorted`` on block-offset keys. ``O(n log^2 n)``, no Python loop
    over elements.
    """
    n = len(values)
    v = values.astype(np.int64)
    positions = np.arange(n, dtype=np.int64)
    inversions = 0
    width = 1
    while width < n:
        block = positions // (2 * width)
        in_right = (positions // width) % 2 == 1
        keys = block * n + v  # runs of length `width` are sorted, so left halves are globally sorted
        left = keys[~in_right]
        right = keys[in_right]
        left_block_end = np.searchsorted(left, (block[in_right] + 1) * n, side="left")
        inversions += int((left_block_end - np.searchsorted(left, right, side="right")).sum())
        v = np.sort(keys) - block * n  # merge: sorting keys sorts each block in place
        width *= 2
    return inversions


def _tie_pairs(values: np.ndarray) -> int:
    """``sum_t t (t - 1) / 2`` over groups of equal values."""
    _, counts = np.unique(values, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def kendall_tau_b(*, x: npt.ArrayLike, y: npt.ArrayLike) -> float | None:
    """Kendall's tau-b between two score vectors, ignoring positions where either is NaN.

    With ``n_c``/``n_d`` concordant/discordant pairs, ``n_0 = n (n - 1) / 2``,
    ``n_1 = sum t (t - 1) / 2`` over ties in ``x`` and ``n_2`` likewise in ``y``::

        tau_b = (n_c - n_d) / sqrt((n_0 - n_1) (n_0 - n_2))

    ``n_c - n_d = n_0 - n_1 - n_2 + n_3 - 2 n_d`` (``n_3``: pairs tied in both)
    with ``n_d`` counted as inversions after sorting by ``(x, y)`` (Knight's
    method), so the cost is ``O(n log^2 n)``. Equals ``scipy.stats.kendalltau``
    (its default ``variant='b'``). ``None`` when fewer than two complete pairs
    remain or either vector is constant.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or ya.ndim != 1:
        raise ValueError("x and y must be 1-D")
    check_lengths(x=xa, y=ya)
    if np.isinf(xa).any() or np.isinf(ya).any():
        raise ValueError("x and y must be finite or NaN")
    keep = ~np.isnan(xa) & ~np.isnan(ya)
    xa, ya = xa[keep], ya[keep]
    n = len(xa)
    if n < 2:
        return None
    n0 = n * (n - 1) // 2
    x_ties = _tie_pairs(xa)
    y_ties = _tie_pairs(ya)
    if x_ties == n0 or y_ties == n0:
        return None
    order = np.lexsort((ya, xa))
    xs, ys = xa[order], ya[order]
    joint_ties = _tie_pairs(np.stack([xs, ys], axis=1).view(np.complex128).reshape(-1))
    y_rank = np.unique(ys, return_inverse=True)[1].reshape(-1)
    discordant = _count_inversions(y_rank)
    s = n0 - x_ties - y_ties + joint_ties - 2 * discordant
    return s / math.sqrt(float(n0 - x_ties) * float(n0 - y_ties))


def average_ranks(scores: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Row-wise average ranks (1 = smallest; ties share their mean rank) and tie terms.

    Returns ``(ranks, ties)`` where ``ties[r] = sum_t (t^3 - t)`` over the tie
    groups of row ``r`` (the term of Kendall's W tie correction). Vectorized
    over rows; NaN raises ValueError.
    """
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"scores must be 2-D (raters × objects), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("scores must be finite (drop incomplete rankings first)")
    rows, n = a.shape
    if rows == 0 or n == 0:
        return np.zeros((rows, n)), np.zeros(rows)
    order = np.argsort(a, axis=1, kind="stable")
    ordered = np.take_along_axis(a, order, axis=1)
    starts = np.ones((rows, n), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = (np.cumsum(starts, axis=1) - 1 + (np.arange(rows) * n)[:, None]).reshape(-1)
    position = np.tile(np.arange(1.0, n + 1.0), rows)
    size = np.bincount(group, minlength=rows * n).astype(np.float64)
    total = np.bincount(group, weights=position, minlength=rows * n)
    ranks = np.empty((rows, n))
    np.put_along_axis(ranks, order, (total[group] / size[group]).reshape(rows, n), axis=1)
    ties = (size**3 - size).reshape(rows, n).sum(axis=1)
    return ranks, ties


def kendall_w(*, scores: npt.ArrayLike, tie_correction: bool = True) -> float | None:
    """Kendall's coefficient of concordance W of ``m`` raters ranking the same ``n`` objects.

    ``scores`` is (raters × objects); each row is converted to average ranks
    ``r_ij``. With ``R_j = sum_i r_ij``, ``S = sum_j (R_j - m (n + 1) / 2)^2`` and
    ``T_i = sum_t (t^3 - t)`` over rater ``i``'s tie groups::

        W = 12 S / (m^2 (n^3 - n) - m sum_i T_i)      (tie_correction=True)
        W = 12 S / (m^2 (n^3 - n))                     (tie_correction=False)

    Equals ``friedmanchisquare(...).statistic / (m (n - 1))`` from scipy.
    Raters with a missing (NaN) score are dropped. ``None`` when fewer than two
    raters or two objects remain, or every rater ties all objects.
    """
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"scores must be 2-D (raters × objects), got shape {a.shape}")
    if np.isinf(a).any():
        raise ValueError("scores must be finite or NaN")
    a = a[~np.isnan(a).any(axis=1)]
    m, n = a.shape
    if m < 2 or n < 2:
        return None
    ranks, ties = average_ranks(a)
    s = float(((ranks.sum(axis=0) - m * (n + 1) / 2.0) ** 2).sum())
    denominator = m * m * (n**3 - n) - (m * float(ties.sum()) if tie_correction else 0.0)
    if denominator <= 0:
        return None
    return 12.0 * s / denominator


@dataclass(frozen=True)
class RankingAgreement:
    """Agreement of ranking annotations.

    Per item (``item_ids``): ``kendall_w`` with ``n_raters``; NaN exactly
    where ``w_defined`` is false (one rater, or all ties). Per annotator pair
    (``annotator_ids``): ``tau_b[a, b]``, the mean over their common items of
    Kendall's tau-b between their rankings, ``n_common[a, b]`` the number of
    common items where tau-b was defined; NaN where ``tau_defined`` is false
    (no such item, and always on the diagonal).
    """

    item_ids: np.ndarray
    kendall_w: FloatArray
    w_defined: BoolArray
    n_raters: IntArray
    annotator_ids: np.ndarray
    tau_b: FloatArray
    tau_defined: BoolArray
    n_common: IntArray

    def mean_w(self) -> float | None:
        """Unweighted mean of W over the items where it is defined."""
        return float(self.kendall_w[self.w_defined].mean()) if self.w_defined.any() else None

    def mean_tau_b(self) -> float | None:
        """Mean of ``tau_b`` over defined annotator pairs (each unordered pair once)."""
        upper = np.triu(self.tau_defined, k=1)
        return float(self.tau_b[upper].mean()) if upper.any() else None

    def as_dict(self) -> dict:
        return {
            "item_ids": self.item_ids.tolist(),
            "kendall_w": nan_to_none(self.kendall_w),
            "n_raters": self.n_raters.tolist(),
            "annotator_ids": self.annotator_ids.tolist(),
            "tau_b": nan_to_none(self.tau_b),
            "n_common": self.n_common.tolist(),
            "mean_w": self.mean_w(),
            "mean_tau_b": self.mean_tau_b(),
        }


def ranking_agreement(
    *,
    items: npt.ArrayLike,
    annotators: npt.ArrayLike,
    rankings: Sequence[npt.ArrayLike],
    tie_correction: bool = True,
) -> RankingAgreement:
    """Kendall's W per item and mean pairwise Kendall's tau-b per annotator pair.

    ``rankings[t]`` is annotator ``annotators[t]``'s complete ranking of the
    responses of item ``items[t]`` (formulas in :func:`kendall_w` and
    :func:`kendall_tau_b`). Items may have different numbers of responses, but
    all rankings of one item must have the same length. Duplicate (item,
    annotator) pairs, ragged lengths within an item, and NaN raise ValueError.
    All items of equal length are processed together, vectorized.
    """
    item_arr = as_id_vector(items, name="items")
    annotator_arr = as_id_vector(annotators, name="annotators")
    if len(rankings) != len(item_arr):
        raise ValueError("rankings must have one entry per annotation")
    check_lengths(items=item_arr, annotators=annotator_arr)
    item_ids, item_idx = encode(item_arr)
    annotator_ids, annotator_idx = encode(annotator_arr)
    n_items, n_annotators = len(item_ids), len(annotator_ids)
    cells = item_idx * max(n_annotators, 1) + annotator_idx
    if len(np.unique(cells)) != len(cells):
        raise ValueError("an annotator has more than one ranking for the same item")
    rows = [np.asarray(r, dtype=np.float64).reshape(-1) for r in rankings]
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    item_length = np.full(n_items, -1, dtype=np.int64)
    item_length[item_idx] = lengths
    if not np.array_equal(item_length[item_idx], lengths):
        raise ValueError("all rankings of one item must have the same length")

    w = np.full(n_items, np.nan)
    n_raters = np.bincount(item_idx, minlength=n_items).astype(np.int64)
    tau_sum = np.zeros(n_annotators * n_annotators)
    tau_count = np.zeros(n_annotators * n_annotators, dtype=np.int64)
    for length in np.unique(lengths):
        members = np.flatnonzero(lengths == length)
        members = members[np.lexsort((annotator_idx[members], item_idx[members]))]
        scores = np.stack([rows[t] for t in members]) if len(members) else np.zeros((0, length))
        ranks, ties = average_ranks(scores)
        group_items = item_idx[members]
        _kendall_w_group(w, ranks, ties, group_items, int(length), tie_correction)
        _tau_b_group(tau_sum, tau_count, ranks, group_items, annotator_idx[members], n_items, n_annotators)

    tau_count_m = tau_count.reshape(n_annotators, n_annotators)
    tau_count_m = tau_count_m + tau_count_m.T
    tau_sum_m = tau_sum.reshape(n_annotators, n_annotators)
    tau_sum_m = tau_sum_m + tau_sum_m.T
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(tau_count_m > 0, tau_sum_m / tau_count_m, np.nan)
    return RankingAgreement(
        item_ids=item_ids,
        kendall_w=w,
        w_defined=~np.isnan(w),
        n_raters=n_raters,
        annotator_ids=annotator_ids,
        tau_b=tau,
        tau_defined=~np.isnan(tau),
        n_common=tau_count_m,
    )


def _kendall_w_group(
    out: FloatArray, ranks: FloatArray, ties: FloatArray, items: IntArray, n: int, tie_correction: bool
) -> None:
    """Fill ``out[item]`` with W for the items whose rankings (all of length ``n``) are given."""
    if n < 2 or len(items) == 0:
        return
    group_items, local = np.unique(items, return_inverse=True)
    local = local.reshape(-1)
    k = len(group_items)
    m = np.bincount(local, minlength=k).astype(np.float64)
    rank_sums = np.stack([np.bincount(local, weights=ranks[:, j], minlength=k) for j in range(n)], axis=1)
    s = ((rank_sums - m[:, None] * (n + 1) / 2.0) ** 2).sum(axis=1)
    tie_total = np.bincount(local, weights=ties, minlength=k) if tie_correction else np.zeros(k)
    denominator = m * m * (n**3 - n) - m * tie_total
    ok = (m >= 2) & (denominator > 0)
    out[group_items[ok]] = 12.0 * s[ok] / denominator[ok]


def _tau_b_group(
    tau_sum: FloatArray,
    tau_count: IntArray,
    ranks: FloatArray,
    items: IntArray,
    annotators: IntArray,
    n_items: int,
    n_annotators: int,
) -> None:
    """Add tau-b of every within-item annotator pair (rows sorted by item, then annotator)."""
    n = ranks.shape[1]
    if n < 2 or len(items) < 2:
        return
    sizes, starts = group_sizes_and_starts(items, n_items)
    first, second = within_group_pairs(sizes, starts)
    if len(first) == 0:
        return
    upper_i, upper_j = np.triu_indices(n, k=1)
    n0 = n * (n - 1) / 2.0
    chunk = max(1, (1 << 22) // len(upper_i))
    for begin in range(0, len(first), chunk):
        a = first[begin : begin + chunk]
        b = second[begin : begin + chunk]
        sign_a = np.sign(ranks[a][:, upper_i] - ranks[a][:, upper_j])
        sign_b = np.sign(ranks[b][:, upper_i] - ranks[b][:, upper_j])
        s = (sign_a * sign_b).sum(axis=1)
        untied_a = n0 - (sign_a == 0).sum(axis=1)
        untied_b = n0 - (sign_b == 0).sum(axis=1)
        ok = (untied_a > 0) & (untied_b > 0)
        tau = s[ok] / np.sqrt(untied_a[ok] * untied_b[ok])
        pair = annotators[a[ok]] * n_annotators + annotators[b[ok]]
        size = n_annotators * n_annotators
        tau_sum += np.bincount(pair, weights=tau, minlength=size)
        tau_count += np.bincount(pair, minlength=size)
