"""Per-item consensus of K-way rankings: (weighted) mean ranks, their dense order, and agreement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotation.quality._common import FloatArray, IntArray, as_id_vector, encode
from annotation.quality.ranking_groups import length_groups, pair_signs
from annotation.quality.rankings import ranking_agreement


@dataclass(frozen=True)
class RankingConsensus:
    """Per ``item_ids[i]``: ``ranking[i]`` the dense consensus ranking (1 is best),
    ``agreement[i]`` the (weighted) share of (labeler, response pair) orderings
    that match it, ``kendall_w[i]`` the concordance of the labelers who count
    (positive weight; NaN where undefined: fewer than two count, or all ties)
    and ``n_votes[i]``."""

    item_ids: np.ndarray
    ranking: list[list[int]]
    agreement: FloatArray
    kendall_w: FloatArray
    n_votes: IntArray


def consensus_rankings(
    *,
    items: npt.ArrayLike,
    labelers: npt.ArrayLike,
    rankings: Sequence[npt.ArrayLike],
    weights: npt.ArrayLike | None = None,
) -> RankingConsensus:
    """Consensus ranking per item by (weighted) mean rank.

    For item ``i`` with rankings ``r_1..r_m`` of ``K`` responses and weights
    ``w_t`` (1 when ``weights`` is None; per annotation, e.g. the labeler's
    reliability from :func:`annotation.quality.ranking_reliability.ranking_reliability`):
    ``mean_k = sum_t w_t r_t[k] / sum_t w_t``, or the plain mean when every
    weight of the item is 0; the consensus is the dense rank of ``mean``
    (equal means share a rank). For each pair ``j < k`` the consensus order
    is ``sign(mean_j - mean_k)`` and::

        agreement_i = sum over (t, j < k) of w_t [sign(r_t[j] - r_t[k]) == sign(mean_j - mean_k)]
                      / sum over (t, j < k) of w_t

    (a tie agrees only with a tie). Kendall's W comes from
    :func:`annotation.quality.rankings.ranking_agreement`, over the rankings
    with positive weight.
    """
    item_arr = as_id_vector(items, name="items")
    rows = [np.asarray(r, dtype=np.float64).reshape(-1) for r in rankings]
    w = np.ones(len(item_arr)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(item_arr):
        raise ValueError("weights must have one entry per annotation")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and non-negative")
    fit = ranking_agreement(items=item_arr, annotators=labelers, rankings=rows)
    kendall = fit.kendall_w.copy()
    counted = w > 0
    if weights is not None and not counted.all():
        # Only the labelers who count: an item whose one reliable ranking stands
        # against zero-weight ones is not disputed (NaN: fewer than two count).
        kendall[:] = np.nan
        if counted.any():
            labeler_arr = np.asarray(labelers)
            sub = ranking_agreement(items=item_arr[counted], annotators=labeler_arr[counted],
                                    rankings=[r for r, c in zip(rows, counted, strict=True) if c])
            kendall[np.searchsorted(fit.item_ids, sub.item_ids)] = sub.kendall_w
    item_ids, item = encode(item_arr)
    n_items = len(item_ids)
    consensus: list[list[int]] = [[] for _ in item_ids]
    agreement = np.ones(n_items)
    # Vectorized over the items of each ranking length (all rankings of one item
    # have the same length; ranking_agreement checked it).
    for group in length_groups(item, rows):
        gw = w[group.members]
        nobody = group.weight_totals(gw) <= 0
        gw = np.where(nobody[group.local], 1.0, gw)  # nobody counts: fall back to the plain mean
        total, sums = group.weighted_sums(gw)
        # Rounding keeps float noise of the weighted sum from splitting true ties.
        mean = np.round(sums / total[:, None], 9)
        for row, i in enumerate(group.items):
            consensus[i] = (np.unique(mean[row], return_inverse=True)[1].reshape(-1) + 1).tolist()
        if group.length < 2:
            continue
        want = pair_signs(mean)
        match = (pair_signs(group.rows) == want[group.local]).mean(axis=1)
        agreement[group.items] = np.bincount(group.local, weights=gw * match,
                                             minlength=len(group.items)) / total
    return RankingConsensus(item_ids=item_ids, ranking=consensus, agreement=agreement,
                            kendall_w=kendall, n_votes=fit.n_raters)
