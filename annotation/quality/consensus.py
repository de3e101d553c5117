"""Per-item consensus labels with an agreement score, and labelers' agreement with the others.

Inputs are long-format arrays, one entry per annotation: ``items[t]``,
``labelers[t]`` and the label or strength. Ids may be any integers or strings
(database keys); results carry the sorted distinct ids they refer to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotation.quality._common import (
    BoolArray,
    FloatArray,
    IntArray,
    as_finite_vector,
    as_id_vector,
    check_lengths,
    encode,
    nan_to_none,
)
from annotation.quality.dawid_skene import DawidSkeneResult
from annotation.quality.pairwise import collapse_strength


@dataclass(frozen=True)
class Consensus:
    """One consensus label per item.

    ``label[i]`` is the consensus for ``item_ids[i]``; ``score[i]`` the
    underlying number (the label itself for majority votes, the weighted mean
    strength, or the posterior mean for Dawid–Skene; NaN throughout when the
    labels are not numbers, e.g. strings); ``agreement[i]`` in
    ``[0, 1]`` how strongly the votes support the label (see each function);
    ``n_votes[i]`` the number of annotations. ``tied[i]`` (majority only) marks
    items where several labels shared the top vote. ``1 - agreement`` is a
    disagreement score for the disagreement-first queue.
    """

    item_ids: np.ndarray
    label: np.ndarray
    score: FloatArray
    agreement: FloatArray
    n_votes: IntArray
    tied: BoolArray
    method: str

    def low_agreement(self, *, threshold: float = 0.6, min_votes: int = 2) -> np.ndarray:
        """Ids of items to adjudicate: ``agreement < threshold`` with at least ``min_votes`` votes."""
        return self.item_ids[(self.agreement < threshold) & (self.n_votes >= min_votes)]

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "item_ids": self.item_ids.tolist(),
            "label": self.label.tolist(),
            "score": self.score.tolist(),
            "agreement": self.agreement.tolist(),
            "n_votes": self.n_votes.tolist(),
            "tied": self.tied.tolist(),
        }


def _votes(items: npt.ArrayLike, labels: npt.ArrayLike, weights: npt.ArrayLike | None):
    item_arr = as_id_vector(items, name="items")
    label_arr = as_id_vector(labels, name="labels")
    check_lengths(items=item_arr, labels=label_arr)
    if weights is None:
        weight_arr = np.ones(len(item_arr))
    else:
        weight_arr = as_finite_vector(weights, name="weights")
        check_lengths(items=item_arr, weights=weight_arr)
        if (weight_arr < 0).any():
            raise ValueError("weights must be non-negative")
    item_ids, item = encode(item_arr)
    classes, y = encode(label_arr)
    return item_ids, item, classes, y, weight_arr


def consensus_majority(
    *,
    items: npt.ArrayLike,
    labels: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    tie_label: float | None = None,
) -> Consensus:
    """Majority (plurality) vote per item, optionally weighted.

    With ``V_ik = sum_{t on i, label k} w_t``: ``label_i = argmax_k V_ik`` and
    ``agreement_i = V_i,label / sum_k V_ik`` (the weight share that agrees with
    the consensus). When several labels share the top weight the item is
    ``tied``; its label is ``tie_label`` if given (e.g. ``0``, the tie class of
    collapsed pairwise labels, so an A-vs-B split becomes a tie) and otherwise
    the smallest of the tied labels; its agreement is then the share of
    ``tie_label`` votes (possibly 0), resp. of the chosen label. An item whose
    weights are all zero gets agreement 0.
    """
    item_ids, item, classes, y, w = _votes(items, labels, weights)
    n_items, n_classes = len(item_ids), len(classes)
    if n_items == 0:
        return _empty("majority")
    table = np.bincount(item * n_classes + y, weights=w, minlength=n_items * n_classes)
    table = table.reshape(n_items, n_classes)
    total = table.sum(axis=1)
    top = table.max(axis=1)
    n_top = (table == top[:, None]).sum(axis=1)
    tied = n_top > 1
    winner = np.argmax(table, axis=1)
    label = classes[winner]
    support = top.copy()
    if tie_label is not None and tied.any():
        label = label.astype(np.result_type(label.dtype, np.asarray(tie_label).dtype))
        label[tied] = tie_label
        match = np.flatnonzero(classes == tie_label)
        support[tied] = table[tied, match[0]] if len(match) else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(total > 0, support / total, 0.0)
    n_votes = np.bincount(item, minlength=n_items).astype(np.int64)
    score = label.astype(np.float64) if label.dtype.kind in "iuf" else np.full(n_items, np.nan)
    return Consensus(
        item_ids=item_ids,
        label=label,
        score=score,
        agreement=agreement,
        n_votes=n_votes,
        tied=tied,
        method="majority",
    )


def consensus_weighted_mean(
    *,
    items: npt.ArrayLike,
    strengths: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    tie_band: float = 0.5,
) -> Consensus:
    """Consensus of 5-point pairwise strengths by their (weighted) mean.

    ``score_i = sum_t w_t s_t / sum_t w_t`` over the annotations of item ``i``;
    ``label_i = collapse(score_i, tie_band)`` in ``{-1, 0, 1}`` (A / tie / B, see
    :func:`annotation.quality.pairwise.collapse_strength`); ``agreement_i`` is
    the weight share of annotations whose own collapsed label
    (``sign(s_t)``) equals ``label_i``. Weights default to 1; pass per-annotation
    labeler reliabilities (e.g. via :func:`labeler_weights`) for a
    reliability-weighted consensus. Items whose weights are all zero get
    score 0, label 0 and agreement 0.
    """
    item_arr = as_id_vector(items, name="items")
    s = as_finite_vector(strengths, name="strengths")
    check_lengths(items=item_arr, strengths=s)
    collapsed = collapse_strength(s)  # also validates the -2..2 range
    w = np.ones(len(s)) if weights is None else as_finite_vector(weights, name="weights")
    check_lengths(items=item_arr, weights=w)
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    item_ids, item = encode(item_arr)
    n_items = len(item_ids)
    if n_items == 0:
        return _empty("weighted_mean")
    total = np.bincount(item, weights=w, minlength=n_items)
    weighted = np.bincount(item, weights=w * s, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(total > 0, weighted / total, 0.0)
    label = collapse_strength(score, tie_band=tie_band)
    agree = np.bincount(item, weights=w * (collapsed == label[item]), minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(total > 0, agree / total, 0.0)
    return Consensus(
        item_ids=item_ids,
        label=label,
        score=score,
        agreement=agreement,
        n_votes=np.bincount(item, minlength=n_items).astype(np.int64),
        tied=np.zeros(n_items, dtype=bool),
        method="weighted_mean",
    )


def consensus_dawid_skene(*, result: DawidSkeneResult) -> Consensus:
    """Consensus from a Dawid–Skene fit: the MAP label, with its posterior as agreement.

    ``label_i = argmax_k P(z_i = k)``, ``agreement_i = max_k P(z_i = k)`` and, for
    numeric classes, ``score_i = sum_k P(z_i = k) classes_k`` (posterior mean).
    """
    n_items = len(result.item_ids)
    if n_items == 0 or len(result.classes) == 0:
        return _empty("dawid_skene")
    classes = result.classes
    numeric = classes.dtype.kind in "iuf"
    score = result.posteriors @ classes.astype(np.float64) if numeric else np.full(n_items, np.nan)
    return Consensus(
        item_ids=result.item_ids,
        label=result.labels,
        score=score,
        agreement=result.confidence,
        n_votes=result.item_n_labels,
        tied=np.zeros(n_items, dtype=bool),
        method="dawid_skene",
    )


def _empty(method: str) -> Consensus:
    return Consensus(
        item_ids=np.zeros(0, dtype=np.int64),
        label=np.zeros(0),
        score=np.zeros(0),
        agreement=np.zeros(0),
        n_votes=np.zeros(0, dtype=np.int64),
        tied=np.zeros(0, dtype=bool),
        method=method,
    )


def labeler_weights(
    *, labelers: npt.ArrayLike, labeler_ids: npt.ArrayLike, values: npt.ArrayLike, default: float = 0.0
) -> FloatArray:
    """Per-annotation weights from per-labeler values (e.g. a Dawid–Skene result's accuracy).

    ``out[t] = values[j]`` where ``labeler_ids[j] == labelers[t]``, ``default``
    for labelers not listed.
    """
    keys = as_id_vector(labeler_ids, name="labeler_ids")
    vals = as_finite_vector(values, name="values")
    check_lengths(labeler_ids=keys, values=vals)
    query = as_id_vector(labelers, name="labelers")
    out = np.full(len(query), float(default))
    if len(keys) == 0 or len(query) == 0:
        return out
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    pos = np.minimum(np.searchsorted(sorted_keys, query), len(keys) - 1)
    found = sorted_keys[pos] == query
    out[found] = vals[order[pos[found]]]
    return out


@dataclass(frozen=True)
class LeaveOneOut:
    """Each labeler's agreement with the consensus of the *other* labelers.

    Per ``labeler_ids[l]``: ``n_items`` items where others also voted;
    ``agreement`` the mean credit (1 if the labeler's label is the others'
    majority, ``1/r`` if it is one of ``r`` tied majority labels, else 0);
    ``expected`` the credit expected by chance from the labeler's own label
    mix and the others' consensus mix; ``kappa = (agreement - expected) /
    (1 - expected)``. ``agreement`` and ``expected`` are NaN where
    ``n_items = 0``; ``kappa`` is NaN exactly where ``defined`` is false
    (``n_items = 0`` or ``expected = 1``). ``flagged``: kappa below the
    threshold with enough items.
    """

    labeler_ids: np.ndarray
    n_items: IntArray
    agreement: FloatArray
    expected: FloatArray
    kappa: FloatArray
    defined: BoolArray
    flagged: BoolArray

    def as_dict(self) -> dict:
        return {
            "labeler_ids": self.labeler_ids.tolist(),
            "n_items": self.n_items.tolist(),
            "agreement": nan_to_none(self.agreement),
            "expected": nan_to_none(self.expected),
            "kappa": nan_to_none(self.kappa),
            "flagged": self.flagged.tolist(),
        }


def leave_one_out_agreement(
    *,
    items: npt.ArrayLike,
    labelers: npt.ArrayLike,
    labels: npt.ArrayLike,
    flag_below: float = 0.1,
    min_items: int = 20,
) -> LeaveOneOut:
    """Agreement of each labeler with the leave-one-out majority of the other labelers.

    For annotation ``t`` on item ``i`` with label ``y``, the others' votes are
    ``O_t = V_i - e_y`` (``V_i`` the item's vote counts). With ``M_t`` the set
    of labels holding the maximum of ``O_t`` (skipped if ``O_t = 0``)::

        credit_t   = [y in M_t] / |M_t|
        agreement  = mean_t credit_t                           (labeler's annotations)
        expected   = sum_k p_k q_k,  p_k = share of the labeler's labels equal to k,
                                     q_k = mean_t [k in M_t] / |M_t|
        kappa      = (agreement - expected) / (1 - expected)

    ``kappa`` is about 0 for a labeler whose answers do not depend on the item
    (random spammer, always-left clicker) and grows with real agreement.
    ``flagged = kappa < flag_below`` for labelers with ``n_items >= min_items``.
    Labels are nominal (collapse 5-point strengths first).
    """
    item_arr = as_id_vector(items, name="items")
    labeler_arr = as_id_vector(labelers, name="labelers")
    label_arr = as_id_vector(labels, name="labels")
    check_lengths(items=item_arr, labelers=labeler_arr, labels=label_arr)
    item_ids, item = encode(item_arr)
    labeler_ids, labeler = encode(labeler_arr)
    classes, y = encode(label_arr)
    n_items, n_labelers, n_classes = len(item_ids), len(labeler_ids), len(classes)
    votes = np.bincount(item * n_classes + y, minlength=n_items * n_classes).reshape(n_items, n_classes)
    others = votes[item].astype(np.float64)
    others[np.arange(len(y)), y] -= 1.0
    valid = others.sum(axis=1) > 0
    others, own, who = others[valid], y[valid], labeler[valid]
    modes = others == others.max(axis=1, keepdims=True) if len(others) else others.astype(bool)
    share = modes / np.maximum(modes.sum(axis=1, keepdims=True), 1)
    credit = share[np.arange(len(own)), own]
    n = np.bincount(who, minlength=n_labelers).astype(np.int64)
    credit_sum = np.bincount(who, weights=credit, minlength=n_labelers)
    own_mix = np.bincount(who * n_classes + own, minlength=n_labelers * n_classes)
    own_mix = own_mix.reshape(n_labelers, n_classes)
    others_mix = np.stack(
        [np.bincount(who, weights=share[:, k], minlength=n_labelers) for k in range(n_classes)], axis=1
    ) if n_classes else np.zeros((n_labelers, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(n > 0, credit_sum / n, np.nan)
        expected = np.where(n > 0, (own_mix * others_mix).sum(axis=1) / n.astype(np.float64) ** 2, np.nan)
        kappa = np.where((n > 0) & (expected < 1.0), (agreement - expected) / (1.0 - expected), np.nan)
    defined = ~np.isnan(kappa)
    flagged = defined & (n >= min_items) & (np.where(defined, kappa, 0.0) < flag_below)
    return LeaveOneOut(
        labeler_ids=labeler_ids,
        n_items=n,
        agreement=agreement,
        expected=expected,
        kappa=kappa,
        defined=defined,
        flagged=flagged,
    )
