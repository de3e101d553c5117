"""Per-labeler behaviour signals: gold accuracy, position bias, length bias, implausible speed.

Each function takes one entry per annotation and returns per-labeler figures
with a ``flagged`` mask, plus the project-level figure over all annotations.
Bias tests compare a share with what it should be without the bias and flag
a labeler only when the difference is both large (``min_effect``) and
statistically clear (``|z| >= z_threshold``) on at least ``min_n`` decisions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from annotation.quality._common import (
    BoolArray,
    FloatArray,
    IntArray,
    as_id_vector,
    as_vector,
    check_lengths,
    check_probability,
    encode,
    nan_to_none,
)


@dataclass(frozen=True)
class ShareSummary:
    """A share over ``n`` decisions against its no-bias ``expected`` value.

    ``difference = share - expected``; ``z = difference / sqrt(expected (1 - expected) / n)``
    (0 when ``expected`` is 0 or 1, where no deviation is possible). ``share``,
    ``expected``, ``difference`` and ``z`` are None when ``n = 0``.
    """

    n: int
    share: float | None
    expected: float | None
    difference: float | None
    z: float | None
    flagged: bool

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ShareTest:
    """Per-labeler :class:`ShareSummary` columns (NaN where ``n = 0``) plus the project-level one."""

    labeler_ids: np.ndarray
    n: IntArray
    share: FloatArray
    expected: FloatArray
    difference: FloatArray
    z: FloatArray
    flagged: BoolArray
    overall: ShareSummary

    def as_dict(self) -> dict:
        return {
            "labeler_ids": self.labeler_ids.tolist(),
            "n": self.n.tolist(),
            "share": nan_to_none(self.share),
            "expected": nan_to_none(self.expected),
            "difference": nan_to_none(self.difference),
            "z": nan_to_none(self.z),
            "flagged": self.flagged.tolist(),
            "overall": self.overall.as_dict(),
        }

    def drivers(self, *, z_threshold: float = 3.0) -> np.ndarray:
        """The labelers whose own share deviates the same way as the overall one
        with ``|z| >= z_threshold``: who drives a project-level bias."""
        if self.overall.difference is None or self.overall.difference == 0:
            return self.labeler_ids[:0]
        same_way = np.sign(np.nan_to_num(self.difference)) == np.sign(self.overall.difference)
        return self.labeler_ids[same_way & (np.abs(np.nan_to_num(self.z)) >= z_threshold)]


def _z(difference: FloatArray, expected: FloatArray, n: FloatArray) -> FloatArray:
    variance = expected * (1.0 - expected)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(variance > 0, difference / np.sqrt(variance / np.maximum(n, 1.0)), 0.0)


def _flags(n, difference, z, *, min_n: int, min_effect: float, z_threshold: float):
    return (n >= min_n) & (np.abs(difference) >= min_effect) & (np.abs(z) >= z_threshold)


def _group_mean(groups: IntArray, n_groups: int, values: FloatArray) -> FloatArray:
    """Mean of ``values`` per group (NaN for empty groups)."""
    n = np.bincount(groups, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(groups, weights=values, minlength=n_groups) / n


def _share_test(
    *,
    groups: IntArray,
    labeler_ids: np.ndarray,
    hits: FloatArray,
    expected_by_group: FloatArray,
    expected_overall: float,
    min_n: int,
    min_effect: float,
    z_threshold: float,
    overall_min_effect: float | None = None,
) -> ShareTest:
    """Per-labeler and overall share of ``hits`` against the given expected shares
    (the overall one flagged at ``overall_min_effect``, default ``min_effect``)."""
    n_groups = len(labeler_ids)
    n = np.bincount(groups, minlength=n_groups).astype(np.float64)
    share = _group_mean(groups, n_groups, hits)
    expected = np.where(n > 0, expected_by_group, np.nan)
    difference = share - expected
    z = np.where(n > 0, _z(np.nan_to_num(difference), np.nan_to_num(expected), n), np.nan)
    flagged = _flags(
        n, np.nan_to_num(difference), np.nan_to_num(z),
        min_n=min_n, min_effect=min_effect, z_threshold=z_threshold,
    )
    total = len(hits)
    if total:
        o_share = float(hits.mean())
        o_diff = o_share - expected_overall
        o_z = float(_z(np.array(o_diff), np.array(expected_overall), np.array(float(total))))
        o_effect = min_effect if overall_min_effect is None else overall_min_effect
        o_flag = bool(_flags(total, o_diff, o_z, min_n=min_n, min_effect=o_effect, z_threshold=z_threshold))
        overall = ShareSummary(
            n=total, share=o_share, expected=float(expected_overall), difference=o_diff, z=o_z, flagged=o_flag
        )
    else:
        overall = ShareSummary(n=0, share=None, expected=None, difference=None, z=None, flagged=False)
    return ShareTest(
        labeler_ids=labeler_ids,
        n=n.astype(np.int64),
        share=share,
        expected=expected,
        difference=difference,
        z=z,
        flagged=flagged,
        overall=overall,
    )


def _decisive(strengths: npt.ArrayLike, n: int) -> tuple[FloatArray, BoolArray]:
    s = np.asarray(strengths, dtype=np.float64)
    if s.ndim != 1 or len(s) != n:
        raise ValueError("strengths must be 1-D with one entry per annotation")
    if np.isinf(s).any() or (np.abs(s[~np.isnan(s)]) > 2).any():
        raise ValueError("strengths must be within -2..2 (NaN for no preference)")
    return s, ~np.isnan(s) & (s != 0)


def _labeler_groups(labelers: npt.ArrayLike | None, n: int) -> tuple[np.ndarray, IntArray]:
    if labelers is None:
        return np.zeros(0, dtype=np.int64), np.zeros(n, dtype=np.int64)
    arr = as_id_vector(labelers, name="labelers")
    if len(arr) != n:
        raise ValueError("labelers must have one entry per annotation")
    return encode(arr)


def _check_test_params(min_effect: float, z_threshold: float, min_n: int) -> None:
    if min_effect < 0 or z_threshold < 0 or min_n < 0:
        raise ValueError("min_effect, z_threshold and min_n must be non-negative")


def position_bias(
    *,
    strengths: npt.ArrayLike,
    a_first: npt.ArrayLike,
    labelers: npt.ArrayLike | None = None,
    min_effect: float = 0.1,
    z_threshold: float = 3.0,
    min_n: int = 20,
    overall_min_effect: float = 0.05,
) -> ShareTest:
    """Share of decisions for the response shown first (left), beyond what the canonical order implies.

    ``strengths`` are canonical (-2..2, negative = A; NaN = no preference) and
    ``a_first[t]`` says A was shown first (see
    :func:`annotation.quality.pairwise.a_shown_first`). Over decisive
    annotations (strength != 0)::

        share    = mean [chose first],  chose first = (s < 0) == a_first
        expected = p q + (1 - p)(1 - q),  p = mean [s < 0],  q = mean a_first

    ``expected`` is the first-choice rate if the labeler's canonical choice
    were independent of the display order (0.5 whenever the display is
    randomized); a labeler who always clicks left has share 1. The test
    assumes the display order is randomized independently of the content, as
    the queue does. ``labelers`` None gives only the overall figure.

    The project-level figure is flagged from ``overall_min_effect`` (0.05): it
    is what a model trained on the dataset learns, and over thousands of
    decisions a 0.097 shift (one labeler always picking the first response,
    z = 7) is both certain and material, though under one labeler's 0.1 bar.
    ``ShareTest.drivers()`` names the labelers behind it.
    """
    _check_test_params(min_effect, z_threshold, min_n)
    first = np.asarray(a_first)
    if first.dtype != np.bool_:
        raise ValueError("a_first must be a boolean array")
    first = as_vector(first, name="a_first")
    s, decisive = _decisive(strengths, len(first))
    labeler_ids, groups = _labeler_groups(labelers, len(first))
    s, first, groups = s[decisive], first[decisive], groups[decisive]
    chose_a = (s < 0).astype(np.float64)
    shown_a = first.astype(np.float64)
    n_groups = len(labeler_ids)
    p, q = _group_mean(groups, n_groups, chose_a), _group_mean(groups, n_groups, shown_a)
    p_all, q_all = (float(chose_a.mean()), float(shown_a.mean())) if len(s) else (0.0, 0.0)
    return _share_test(
        groups=groups,
        labeler_ids=labeler_ids,
        hits=(chose_a == shown_a).astype(np.float64),
        expected_by_group=p * q + (1.0 - p) * (1.0 - q),
        expected_overall=p_all * q_all + (1.0 - p_all) * (1.0 - q_all),
        min_n=min_n,
        min_effect=min_effect,
        z_threshold=z_threshold,
        overall_min_effect=overall_min_effect,
    )


def length_bias(
    *,
    strengths: npt.ArrayLike,
    length_a: npt.ArrayLike,
    length_b: npt.ArrayLike,
    labelers: npt.ArrayLike | None = None,
    baseline: float = 0.5,
    min_effect: float = 0.1,
    z_threshold: float = 3.0,
    min_n: int = 20,
) -> ShareTest:
    """How often the longer response wins, over decisive annotations of unequal-length pairs.

    ``share = mean [(s < 0) == (length_a > length_b)]`` against ``baseline``
    (0.5: length unrelated to preference). A share above the baseline can be
    genuine (longer answers may be better); it is a signal for review, not a
    verdict. To judge a labeler against the crowd rather than against 0.5,
    pass the project-level ``overall.share`` as ``baseline``. Lengths can be
    characters or tokens, anything comparable.
    """
    _check_test_params(min_effect, z_threshold, min_n)
    check_probability(baseline, name="baseline", open_interval=False)
    la = np.asarray(length_a, dtype=np.float64)
    lb = np.asarray(length_b, dtype=np.float64)
    if la.ndim != 1 or lb.ndim != 1:
        raise ValueError("length_a and length_b must be 1-D")
    check_lengths(length_a=la, length_b=lb)
    if not (np.isfinite(la).all() and np.isfinite(lb).all()):
        raise ValueError("lengths must be finite")
    s, decisive = _decisive(strengths, len(la))
    labeler_ids, groups = _labeler_groups(labelers, len(la))
    keep = decisive & (la != lb)
    longer_won = ((s[keep] < 0) == (la[keep] > lb[keep])).astype(np.float64)
    return _share_test(
        groups=groups[keep],
        labeler_ids=labeler_ids,
        hits=longer_won,
        expected_by_group=np.full(len(labeler_ids), baseline),
        expected_overall=baseline,
        min_n=min_n,
        min_effect=min_effect,
        z_threshold=z_threshold,
    )


@dataclass(frozen=True)
class SpeedReport:
    """Median seconds per item per labeler, with a flag for implausibly fast work.

    ``median_seconds`` is NaN where ``n = 0``; ``threshold_seconds`` is the
    cut-off applied (None when no labeler had enough timed items).
    """

    labeler_ids: np.ndarray
    n: IntArray
    median_seconds: FloatArray
    flagged: BoolArray
    threshold_seconds: float | None

    def as_dict(self) -> dict:
        return {
            "labeler_ids": self.labeler_ids.tolist(),
            "n": self.n.tolist(),
            "median_seconds": nan_to_none(self.median_seconds),
            "flagged": self.flagged.tolist(),
            "threshold_seconds": self.threshold_seconds,
        }


def labeler_speed(
    *,
    labelers: npt.ArrayLike,
    seconds: npt.ArrayLike,
    min_seconds: float = 2.0,
    relative: float = 0.25,
    min_items: int = 5,
) -> SpeedReport:
    """Flag labelers whose median time per item is implausibly short.

    ``median_l`` is labeler ``l``'s median of ``seconds`` (NaN = not timed, ignored)::

        threshold = max(min_seconds, relative * median_l' median_l')
        flagged_l = n_l >= min_items and median_l < threshold

    where the inner median runs over labelers with ``n >= min_items``: a
    labeler is flagged when absolutely too fast for reading two responses, or
    much faster than the typical labeler of the project.
    """
    if min_seconds < 0 or relative < 0 or min_items < 1:
        raise ValueError("min_seconds and relative must be non-negative, min_items at least 1")
    labeler_arr = as_id_vector(labelers, name="labelers")
    secs = np.asarray(seconds, dtype=np.float64)
    if secs.ndim != 1:
        raise ValueError("seconds must be 1-D")
    check_lengths(labelers=labeler_arr, seconds=secs)
    if np.isinf(secs).any() or (secs[~np.isnan(secs)] < 0).any():
        raise ValueError("seconds must be non-negative (NaN = not timed)")
    labeler_ids, labeler = encode(labeler_arr)
    timed = ~np.isnan(secs)
    labeler, secs = labeler[timed], secs[timed]
    n_labelers = len(labeler_ids)
    n = np.bincount(labeler, minlength=n_labelers).astype(np.int64)
    medians = np.full(n_labelers, np.nan)
    order = np.lexsort((secs, labeler))
    sorted_secs = secs[order]
    starts = np.concatenate([[0], np.cumsum(n)[:-1]]) if n_labelers else np.zeros(0, dtype=np.int64)
    has = n > 0
    lo = starts[has] + (n[has] - 1) // 2
    hi = starts[has] + n[has] // 2
    medians[has] = (sorted_secs[lo] + sorted_secs[hi]) / 2.0
    enough = n >= min_items
    if enough.any():
        threshold = max(min_seconds, relative * float(np.median(medians[enough])))
        flagged = enough & (np.nan_to_num(medians, nan=math.inf) < threshold)
    else:
        threshold = None
        flagged = np.zeros(n_labelers, dtype=bool)
    return SpeedReport(
        labeler_ids=labeler_ids,
        n=n,
        median_seconds=medians,
        flagged=flagged,
        threshold_seconds=threshold,
    )


@dataclass(frozen=True)
class GoldAccuracy:
    """Per-labeler accuracy on gold (honeypot) items.

    ``accuracy[l] = correct[l] / n[l]``; NaN exactly where ``n = 0``.
    ``overall`` is the pooled accuracy (None when there are no gold answers).
    """

    labeler_ids: np.ndarray
    n: IntArray
    correct: IntArray
    accuracy: FloatArray
    overall: float | None

    def as_dict(self) -> dict:
        return {
            "labeler_ids": self.labeler_ids.tolist(),
            "n": self.n.tolist(),
            "correct": self.correct.tolist(),
            "accuracy": nan_to_none(self.accuracy),
            "overall": self.overall,
        }


def gold_accuracy(
    *,
    labelers: npt.ArrayLike,
    answers: npt.ArrayLike,
    expected_min: npt.ArrayLike,
    expected_max: npt.ArrayLike | None = None,
) -> GoldAccuracy:
    """Share of gold answers inside the expected answer or acceptable range.

    An answer is correct when ``expected_min[t] <= answers[t] <= expected_max[t]``
    (``expected_max`` defaults to ``expected_min``: one exact expected answer).
    For pairwise gold, e.g. "A is better" is the range ``[-2, -1]`` of
    strengths. A missing answer (NaN) counts as wrong.
    """
    labeler_arr = as_id_vector(labelers, name="labelers")
    answer = np.asarray(answers, dtype=np.float64)
    low = np.asarray(expected_min, dtype=np.float64)
    high = low if expected_max is None else np.asarray(expected_max, dtype=np.float64)
    if answer.ndim != 1 or low.ndim != 1 or high.ndim != 1:
        raise ValueError("answers and expected values must be 1-D")
    check_lengths(labelers=labeler_arr, answers=answer, expected_min=low, expected_max=high)
    if not (np.isfinite(low).all() and np.isfinite(high).all()) or (low > high).any():
        raise ValueError("expected ranges must be finite with expected_min <= expected_max")
    labeler_ids, labeler = encode(labeler_arr)
    with np.errstate(invalid="ignore"):
        right = (answer >= low) & (answer <= high)
    n = np.bincount(labeler, minlength=len(labeler_ids)).astype(np.int64)
    correct = np.bincount(labeler, weights=right, minlength=len(labeler_ids)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n > 0, correct / np.maximum(n, 1), np.nan)
    return GoldAccuracy(
        labeler_ids=labeler_ids,
        n=n,
        correct=correct,
        accuracy=accuracy,
        overall=float(right.mean()) if len(right) else None,
    )
