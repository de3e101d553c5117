"""Dawid–Skene: each labeler's confusion matrix and each item's posterior label, by EM.

Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates
using the EM algorithm". Input is sparse: one ``(item, labeler, label)``
triple per annotation, ids of any integer or string type (e.g. database keys).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotation.quality._common import (
    FloatArray,
    IntArray,
    as_id_vector,
    check_lengths,
    encode,
    encode_with_domain,
)


@dataclass(frozen=True)
class DawidSkeneResult:
    """Fitted Dawid–Skene model.

    ``posteriors[i, k]`` is ``P(true label of item_ids[i] = classes[k] | labels)``;
    ``confusion[l, k, y]`` is ``P(labeler_ids[l] says classes[y] | truth classes[k])``;
    ``priors[k]`` the class prevalence. ``log_likelihood`` is the marginal
    log-likelihood of the observed labels at the final parameters.
    ``objective`` adds the log density of the Dirichlet pseudo-counts (up to a
    constant): the MAP objective, which no EM round decreases.
    ``n_labels[l]`` counts labeler ``l``'s annotations, ``item_n_labels[i]``
    item ``i``'s.
    """

    item_ids: np.ndarray
    labeler_ids: np.ndarray
    classes: np.ndarray
    posteriors: FloatArray
    priors: FloatArray
    confusion: FloatArray
    n_labels: IntArray
    item_n_labels: IntArray
    log_likelihood: float
    objective: float
    n_iter: int
    converged: bool

    @property
    def labels(self) -> np.ndarray:
        """Maximum a posteriori label per item (first class on exact ties)."""
        return self.classes[np.argmax(self.posteriors, axis=1)] if len(self.classes) else self.classes

    @property
    def confidence(self) -> FloatArray:
        """Posterior probability of the MAP label per item."""
        return self.posteriors.max(axis=1) if self.posteriors.size else np.zeros(len(self.item_ids))

    @property
    def labeler_accuracy(self) -> FloatArray:
        """Expected accuracy ``sum_k priors_k confusion[l, k, k]`` per labeler."""
        return np.einsum("k,lkk->l", self.priors, self.confusion)

    @property
    def labeler_informativeness(self) -> FloatArray:
        """How much a labeler's answer depends on the truth, in ``[0, 1]``.

        The prior-weighted mean total-variation distance between the rows of
        the labeler's confusion matrix::

            I_l = sum_{k<k'} pi_k pi_k' TV(C_l[k], C_l[k']) / sum_{k<k'} pi_k pi_k'

        with ``TV(p, q) = sum_y |p_y - q_y| / 2``. A spammer's answers are
        independent of the truth, so all rows are equal and ``I = 0`` — whether
        it answers uniformly at random or always the same (e.g. always the left
        response); a perfect labeler has ``I = 1``. Low values flag spammers
        (Raykar & Yu 2012 define a similar spammer score). With fewer than two
        classes every labeler scores 0.
        """
        n_classes = len(self.classes)
        if n_classes < 2:
            return np.zeros(len(self.labeler_ids))
        first, second = np.triu_indices(n_classes, k=1)
        tv = 0.5 * np.abs(self.confusion[:, first, :] - self.confusion[:, second, :]).sum(axis=2)
        pair_weight = self.priors[first] * self.priors[second]
        if pair_weight.sum() <= 0:
            return np.zeros(len(self.labeler_ids))
        return (tv * pair_weight).sum(axis=1) / pair_weight.sum()

    def spammers(self, *, threshold: float = 0.2, min_labels: int = 10) -> np.ndarray:
        """Ids of labelers with ``informativeness < threshold`` and at least ``min_labels`` labels."""
        flagged = (self.labeler_informativeness < threshold) & (self.n_labels >= min_labels)
        return self.labeler_ids[flagged]

    def as_dict(self) -> dict:
        return {
            "classes": self.classes.tolist(),
            "priors": self.priors.tolist(),
            "labeler_ids": self.labeler_ids.tolist(),
            "labeler_accuracy": self.labeler_accuracy.tolist(),
            "labeler_informativeness": self.labeler_informativeness.tolist(),
            "confusion": self.confusion.tolist(),
            "n_labels": self.n_labels.tolist(),
            "log_likelihood": self.log_likelihood,
            "n_iter": self.n_iter,
            "converged": self.converged,
        }


class _Segments:
    """Triples sorted by a key, for segment sums with one ``np.add.reduceat`` call.

    ``sum_by_key(values)[j] = sum of values[t] over triples t with key[t] = keys[j]``,
    where ``values`` is indexed in the sorted order (``gather`` puts rows there).
    """

    def __init__(self, key: IntArray) -> None:
        self.order = np.argsort(key, kind="stable")
        sorted_key = key[self.order]
        first = np.ones(len(sorted_key), dtype=bool)
        first[1:] = sorted_key[1:] != sorted_key[:-1]
        self.starts = np.flatnonzero(first)
        self.keys = sorted_key[self.starts]

    def sum_by_key(self, rows: FloatArray) -> FloatArray:
        return np.add.reduceat(rows, self.starts, axis=0)


def _normalize_log(log_post: FloatArray) -> tuple[FloatArray, float]:
    top = log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post - top)
    total = post.sum(axis=1, keepdims=True)
    log_likelihood = float((np.log(total) + top).sum())
    return post / total, log_likelihood


def dawid_skene(
    *,
    items: npt.ArrayLike,
    labelers: npt.ArrayLike,
    labels: npt.ArrayLike,
    classes: npt.ArrayLike | None = None,
    smoothing: float = 0.01,
    diagonal_prior: float = 1.0,
    tol: float = 1e-5,
    max_iter: int = 500,
) -> DawidSkeneResult:
    """Fit the Dawid–Skene model by EM.

    Model: item ``i`` has a hidden class ``z_i ~ Categorical(pi)``; labeler
    ``l`` reports ``y`` with probability ``theta[l, z_i, y]``, independently.

    * Initialization (deterministic): the posterior of each item is its vote
      share (soft majority vote), ``T_ik = #{votes k on i} / #{votes on i}``.
    * M-step (MAP), with Dirichlet pseudo-count ``a = smoothing > 0`` on every
      cell and ``d = diagonal_prior`` more on the diagonal (``[k = y]``)::

        pi_k          = (sum_i T_ik + a) / (N + K a)
        theta[l,k,y]  = (sum_{(i,l,y)} T_ik + a + d [k = y]) / (sum_{(i,l)} T_ik + K a + d)

      ``d`` is a mild prior that labelers beat chance: it rules out the
      label-switched and degenerate optima that plain EM drifts into on tiny
      data (one labeler, a handful of items) and is negligible for labelers
      with many labels. ``diagonal_prior=0`` gives plain Dawid–Skene.

    * E-step::

        log T_ik = log pi_k + sum_{(i,l,y)} log theta[l,k,y]   (then normalized over k)

    Iterates M then E until the largest change of any posterior is below
    ``tol`` (``converged``) or ``max_iter`` rounds. Each round is a handful of
    ``bincount`` passes over the triples, so memory and time are linear in the
    number of annotations.

    ``classes`` fixes the label set and its order (labels outside it raise
    ValueError); by default the sorted distinct labels. A labeler who labels
    the same item twice contributes two independent votes. Empty input gives
    an empty result (no items, no labelers) with ``converged=True``.
    """
    item_arr = as_id_vector(items, name="items")
    labeler_arr = as_id_vector(labelers, name="labelers")
    label_arr = as_id_vector(labels, name="labels")
    check_lengths(items=item_arr, labelers=labeler_arr, labels=label_arr)
    if not (smoothing > 0 and np.isfinite(smoothing)):
        raise ValueError("smoothing must be a positive number (it keeps every log-probability finite)")
    if not (diagonal_prior >= 0 and np.isfinite(diagonal_prior)):
        raise ValueError("diagonal_prior must be a non-negative number")
    if tol <= 0:
        raise ValueError("tol must be positive")
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1")

    if classes is None:
        class_values, y = encode(label_arr)
    else:
        class_values = np.unique(np.asarray(classes))
        if len(class_values) != len(np.asarray(classes)):
            raise ValueError("classes contains duplicates")
        y = encode_with_domain(label_arr, class_values, name="labels")
    item_ids, item = encode(item_arr)
    labeler_ids, labeler = encode(labeler_arr)
    n_items, n_labelers, n_classes = len(item_ids), len(labeler_ids), len(class_values)
    n_labels = np.bincount(labeler, minlength=n_labelers).astype(np.int64)
    item_n_labels = np.bincount(item, minlength=n_items).astype(np.int64)
    if len(label_arr) == 0 or n_classes == 0:
        return DawidSkeneResult(
            item_ids=item_ids,
            labeler_ids=labeler_ids,
            classes=class_values,
            posteriors=np.zeros((n_items, n_classes)),
            priors=np.full(n_classes, 1.0 / n_classes) if n_classes else np.zeros(0),
            confusion=np.zeros((n_labelers, n_classes, n_classes)),
            n_labels=n_labels,
            item_n_labels=item_n_labels,
            log_likelihood=0.0,
            objective=0.0,
            n_iter=0,
            converged=True,
        )

    # Soft majority vote.
    votes = np.bincount(item * n_classes + y, minlength=n_items * n_classes).reshape(n_items, n_classes)
    posteriors = votes / votes.sum(axis=1, keepdims=True)
    cell = labeler * n_classes + y  # (labeler, observed label) cell of each triple
    # Two sorted views of the triples turn both EM sums into gathers plus one reduceat:
    # by item (every item has a triple, so segment j is item j) and by cell.
    by_item = _Segments(item)
    by_cell = _Segments(cell)
    item_by_cell = item[by_cell.order]
    cell_by_item = cell[by_item.order]

    converged = False
    log_likelihood = objective = 0.0
    n_iter = 0
    confusion = np.zeros((n_labelers, n_classes, n_classes))
    priors = np.zeros(n_classes)
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        # M-step.
        priors = (posteriors.sum(axis=0) + smoothing) / (n_items + n_classes * smoothing)
        counts: npt.NDArray[np.float64] = np.zeros((n_labelers * n_classes, n_classes))  # [(l, y), k]
        counts[by_cell.keys] = by_cell.sum_by_key(posteriors[item_by_cell])
        counts = counts.reshape(n_labelers, n_classes, n_classes).transpose(0, 2, 1)  # [l, k, y]
        counts = counts + smoothing + diagonal_prior * np.eye(n_classes)  # [l, k, y]
        totals = counts.sum(axis=2, keepdims=True)
        confusion = counts / totals
        # E-step.
        log_confusion = np.log(confusion)
        log_priors = np.log(priors)
        by_observation = log_confusion.transpose(0, 2, 1).reshape(n_labelers * n_classes, n_classes)
        # Row t: log theta[l_t, k, y_t] for every k; summed per item.
        log_post = log_priors[None, :] + by_item.sum_by_key(by_observation[cell_by_item])
        new_posteriors, log_likelihood = _normalize_log(log_post)
        objective = log_likelihood + smoothing * (log_priors.sum() + log_confusion.sum())
        objective += diagonal_prior * np.trace(log_confusion, axis1=1, axis2=2).sum()
        change = float(np.abs(new_posteriors - posteriors).max())
        posteriors = new_posteriors
        if change < tol:
            converged = True
            break

    return DawidSkeneResult(
        item_ids=item_ids,
        labeler_ids=labeler_ids,
        classes=class_values,
        posteriors=posteriors,
        priors=priors,
        confusion=confusion,
        n_labels=n_labels,
        item_n_labels=item_n_labels,
        log_likelihood=log_likelihood,
        objective=float(objective),
        n_iter=n_iter,
        converged=converged,
    )
