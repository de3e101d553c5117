"""The rankings of each length, grouped by item: what the weighted consensus and the
leave-one-out reliability both sum over.

All rankings of one item have the same length, so grouping by length keeps every
item whole and lets each group be one (members × length) array.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from annotation.quality._common import FloatArray, IntArray


def pair_signs(scores: FloatArray) -> FloatArray:
    """sign(s[i] - s[j]) for every pair i < j, per row: -1 when i is ranked better."""
    first, second = np.triu_indices(scores.shape[1], k=1)
    return np.sign(scores[:, first] - scores[:, second])


@dataclass(frozen=True)
class LengthGroup:
    """The rankings of one length: ``members`` (annotation indices), their ``rows``
    (members × length), the encoded ``items`` they rank and, per member, ``local``:
    its item's index in ``items``."""

    length: int
    members: IntArray
    rows: FloatArray
    items: IntArray
    local: IntArray

    def weight_totals(self, weights: FloatArray) -> FloatArray:
        """Per item of the group: its members' total weight."""
        total = np.bincount(self.local, weights=weights, minlength=len(self.items))
        return total.astype(np.float64, copy=False)

    def weighted_sums(self, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per item of the group: the members' total weight, and the weighted sum of
        the rank each gave to every position (items × length)."""
        n = len(self.items)
        sums = np.stack([np.bincount(self.local, weights=weights * self.rows[:, j], minlength=n)
                         for j in range(self.length)], axis=1).astype(np.float64, copy=False)
        return self.weight_totals(weights), sums


def length_groups(item: IntArray, rows: Sequence[FloatArray]) -> Iterator[LengthGroup]:
    """One group per ranking length; ``item[t]`` is annotation ``t``'s encoded item."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    for length in np.unique(lengths):
        members = np.flatnonzero(lengths == length)
        items, local = np.unique(item[members], return_inverse=True)
        yield LengthGroup(length=int(length), members=members, rows=np.stack([rows[int(t)] for t in members]),
                          items=items, local=local.reshape(-1))
