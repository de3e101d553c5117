"""Per-item consensus of K-way rankings: mean ranks, their dense order, and agreement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotation.quality._common import FloatArray, IntArray, as_id_vector, encode
from annotation.quality.rankings import ranking_agreement


@dataclass(frozen=True)
class RankingConsensus:
    """Per ``item_ids[i]``: ``ranking[i]`` the dense consensus ranking (1 is best),
    ``agreement[i]`` the share of (labeler, response pair) orderings that match
    it, ``kendall_w[i]`` (NaN where undefined: one labeler, or all ties) and
    ``n_votes[i]``."""

    item_ids: np.ndarray
    ranking: list[list[int]]
    agreement: FloatArray
    kendall_w: FloatArray
    n_votes: IntArray


def consensus_rankings(
    *, items: npt.ArrayLike, labelers: npt.ArrayLike, rankings: Sequence[npt.ArrayLike]
) -> RankingConsensus:
    """Consensus ranking per item by mean rank.

    For item ``i`` with rankings ``r_1..r_m`` of ``K`` responses:
    ``mean_k = mean_t r_t[k]``; the consensus is the dense rank of ``mean``
    (equal means share a rank). For each pair ``j < k`` the consensus order is
    ``sign(mean_j - mean_k)`` and::

        agreement_i = mean over (t, j < k) of [sign(r_t[j] - r_t[k]) == sign(mean_j - mean_k)]

    (a tie agrees only with a tie). Kendall's W comes from
    :func:`annotation.quality.rankings.ranking_agreement`.
    """
    item_arr = as_id_vector(items, name="items")
    fit = ranking_agreement(items=item_arr, annotators=labelers, rankings=rankings)
    item_ids, item = encode(item_arr)
    rows = [np.asarray(r, dtype=np.float64).reshape(-1) for r in rankings]
    order = np.argsort(item, kind="stable")
    consensus: list[list[int]] = [[] for _ in item_ids]
    agreement = np.zeros(len(item_ids))
    bounds = np.searchsorted(item[order], np.arange(len(item_ids) + 1))
    for i in range(len(item_ids)):
        group = np.stack([rows[t] for t in order[bounds[i]:bounds[i + 1]]])
        mean = group.mean(axis=0)
        consensus[i] = (np.unique(mean, return_inverse=True)[1].reshape(-1) + 1).tolist()
        first, second = np.triu_indices(group.shape[1], k=1)
        if len(first):
            want = np.sign(mean[first] - mean[second])
            agreement[i] = float((np.sign(group[:, first] - group[:, second]) == want).mean())
        else:
            agreement[i] = 1.0
    return RankingConsensus(item_ids=item_ids, ranking=consensus, agreement=agreement,
                            kendall_w=fit.kendall_w, n_votes=fit.n_raters)
