"""One call that computes a project's quality figures (pairwise, ranking or feedback), JSON-ready.

An optional convenience over the other modules, so that the API, the
``agreement`` command and the dashboard can share one computation. Every
figure comes from a documented function elsewhere in the package; this
module only chooses the combination and shapes the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from annotation.quality._common import as_id_vector, check_lengths, nan_to_none
from annotation.quality.agreement import (
    krippendorff_alpha,
    pairwise_agreement,
    percent_agreement,
    reliability_matrix,
)
from annotation.quality.bootstrap import ConfidenceInterval, bootstrap_ci, krippendorff_alpha_ci
from annotation.quality.consensus import consensus_dawid_skene, leave_one_out_agreement
from annotation.quality.dawid_skene import dawid_skene
from annotation.quality.pairwise import COLLAPSED_CLASSES, STRENGTH_SCALE, collapse_strength
from annotation.quality.ranking_reliability import ranking_reliability
from annotation.quality.rankings import ranking_agreement
from annotation.quality.reliability import labeler_speed, length_bias, position_bias


def _plain(value: object) -> object:
    """A numpy scalar as the Python scalar JSON understands."""
    return value.item() if isinstance(value, np.generic) else value


def _interval(ci: ConfidenceInterval | None, estimate: float | None) -> dict:
    if ci is None:
        return {"estimate": estimate, "low": None, "high": None}
    return {"estimate": ci.estimate, "low": ci.low, "high": ci.high}


def pairwise_quality_report(
    *,
    items: npt.ArrayLike,
    labelers: npt.ArrayLike,
    strengths: npt.ArrayLike,
    a_first: npt.ArrayLike | None = None,
    seconds: npt.ArrayLike | None = None,
    length_a: npt.ArrayLike | None = None,
    length_b: npt.ArrayLike | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    low_agreement_below: float = 0.6,
) -> dict:
    """Quality figures of a pairwise project from one row per annotation.

    ``strengths`` are canonical -2..2 (NaN: no preference, e.g. "both bad");
    ``a_first``, ``seconds`` and ``length_a``/``length_b`` are optional and
    switch on the position-bias, speed and length-bias figures. Returns::

        {"n_annotations", "n_items", "n_labelers", "tie_share", "no_preference_share",
         "alpha_ordinal": {"estimate", "low", "high"},    # 5-point scale, 95% CI
         "alpha_nominal": {...},                           # collapsed A/tie/B
         "percent_agreement",                              # collapsed
         "kappa": {"labeler_ids", "nominal", "quadratic"},  # labeler × labeler matrices
         "position_bias", "length_bias",                   # project level (or None);
                                                           # position_bias["drivers"]: labeler ids
         "low_agreement_item_ids",                          # Dawid–Skene posterior < threshold
         "labelers": [{"id", "n", "loo_agreement", "loo_kappa", "ds_accuracy", "ds_informativeness",
                       "first_share", "longer_share", "median_seconds", "flags"}, ...]}

    ``flags`` lists any of ``"spammer"`` (Dawid–Skene informativeness),
    ``"disagrees"`` (leave-one-out kappa), ``"position_bias"``,
    ``"length_bias"`` and ``"too_fast"``. Undefined figures are None.
    """
    item_arr = as_id_vector(items, name="items")
    labeler_arr = as_id_vector(labelers, name="labelers")
    s = np.asarray(strengths, dtype=np.float64)
    check_lengths(items=item_arr, labelers=labeler_arr, strengths=s)
    collapsed_all = collapse_strength(s)
    has_pref = ~np.isnan(s)
    pref_items, pref_labelers = item_arr[has_pref], labeler_arr[has_pref]
    pref_strengths, pref_collapsed = s[has_pref], collapsed_all[has_pref]

    matrix = reliability_matrix(items=pref_items, annotators=pref_labelers, values=pref_strengths)
    collapsed_matrix = collapse_strength(matrix.data)
    ordinal_ci = krippendorff_alpha_ci(
        reliability_data=matrix.data, level="ordinal", value_domain=STRENGTH_SCALE,
        n_resamples=n_resamples, seed=seed,
    )
    nominal_ci = krippendorff_alpha_ci(
        reliability_data=collapsed_matrix, level="nominal", value_domain=COLLAPSED_CLASSES,
        n_resamples=n_resamples, seed=seed,
    )
    kappa_nominal = pairwise_agreement(reliability_data=collapsed_matrix, labels=COLLAPSED_CLASSES)
    kappa_quadratic = pairwise_agreement(
        reliability_data=matrix.data, labels=STRENGTH_SCALE, weights="quadratic"
    )

    labeler_ids = np.unique(labeler_arr)
    fields = ("n", "loo_agreement", "loo_kappa", "ds_accuracy", "ds_informativeness",
              "first_share", "longer_share", "median_seconds")
    rows: dict = {key: {"id": _plain(key), **dict.fromkeys(fields), "flags": []} for key in labeler_ids}

    def put(ids: np.ndarray, field: str, values: np.ndarray, flags: np.ndarray | None, flag: str) -> None:
        for key, value, bad in zip(
            ids, nan_to_none(np.asarray(values, dtype=np.float64)),
            flags if flags is not None else [False] * len(ids), strict=True,
        ):
            rows[key][field] = value
            if bad:
                rows[key]["flags"].append(flag)

    for key, count in zip(*np.unique(labeler_arr, return_counts=True), strict=True):
        rows[key]["n"] = int(count)
    low_agreement: list = []
    if len(pref_items):
        fit = dawid_skene(items=pref_items, labelers=pref_labelers, labels=pref_collapsed)
        spam = np.isin(fit.labeler_ids, fit.spammers())
        put(fit.labeler_ids, "ds_accuracy", fit.labeler_accuracy, None, "")
        put(fit.labeler_ids, "ds_informativeness", fit.labeler_informativeness, spam, "spammer")
        consensus = consensus_dawid_skene(result=fit)
        low_agreement = consensus.low_agreement(threshold=low_agreement_below).tolist()
        loo = leave_one_out_agreement(items=pref_items, labelers=pref_labelers, labels=pref_collapsed)
        put(loo.labeler_ids, "loo_agreement", loo.agreement, None, "")
        put(loo.labeler_ids, "loo_kappa", loo.kappa, loo.flagged, "disagrees")

    position = None
    if a_first is not None:
        bias = position_bias(strengths=s, a_first=np.asarray(a_first, dtype=bool), labelers=labeler_arr)
        put(bias.labeler_ids, "first_share", bias.share, bias.flagged, "position_bias")
        position = bias.overall.as_dict() | {"drivers": [_plain(d) for d in bias.drivers()]}
    length = None
    if length_a is not None and length_b is not None:
        bias = length_bias(strengths=s, length_a=length_a, length_b=length_b, labelers=labeler_arr)
        put(bias.labeler_ids, "longer_share", bias.share, bias.flagged, "length_bias")
        length = bias.overall.as_dict()
    if seconds is not None:
        speed = labeler_speed(labelers=labeler_arr, seconds=seconds)
        put(speed.labeler_ids, "median_seconds", speed.median_seconds, speed.flagged, "too_fast")

    n = len(s)
    return {
        "n_annotations": n,
        "n_items": len(np.unique(item_arr)),
        "n_labelers": len(labeler_ids),
        "tie_share": float((pref_strengths == 0).sum() / n) if n else None,
        "no_preference_share": float((~has_pref).sum() / n) if n else None,
        "alpha_ordinal": _interval(
            ordinal_ci,
            krippendorff_alpha(reliability_data=matrix.data, level="ordinal", value_domain=STRENGTH_SCALE),
        ),
        "alpha_nominal": _interval(
            nominal_ci,
            krippendorff_alpha(reliability_data=collapsed_matrix, level="nominal"),
        ),
        "percent_agreement": percent_agreement(reliability_data=collapsed_matrix),
        "kappa": {
            "labeler_ids": [_plain(k) for k in matrix.annotator_ids],
            "nominal": kappa_nominal.as_dict()["kappa"],
            "quadratic": kappa_quadratic.as_dict()["kappa"],
        },
        "position_bias": position,
        "length_bias": length,
        "low_agreement_item_ids": low_agreement,
        "labelers": list(rows.values()),
    }


def _rank_units(items: np.ndarray, labelers: np.ndarray, rows: list[np.ndarray]):
    """Alpha's units for rankings: (item, response) with the rank as an ordinal value,
    and for each item the columns of its units (the bootstrap resamples items)."""
    unit_ids, coders, values = [], [], []
    for item, labeler, ranking in zip(items, labelers, rows, strict=True):
        for position, rank in enumerate(ranking):
            unit_ids.append(f"{item}\x1f{position}")
            coders.append(labeler)
            values.append(rank)
    matrix = reliability_matrix(items=unit_ids, annotators=coders, values=values)
    unit_item = np.array([u.split("\x1f")[0] for u in matrix.item_ids.tolist()])
    _, unit_group = np.unique(unit_item, return_inverse=True)
    return matrix.data, unit_group.reshape(-1)


def rank_alpha(*, items: npt.ArrayLike, labelers: npt.ArrayLike, rankings, n_resamples: int = 1000,
               seed: int = 0) -> dict:
    """Krippendorff's alpha on ranks (ordinal) with its 95% bootstrap interval over items.

    Each (item, response) is a unit and its rank an ordinal value. The ranks
    of one item are not independent (a permutation), so the bootstrap draws
    whole items, not units.
    """
    item_arr = as_id_vector(items, name="items")
    labeler_arr = as_id_vector(labelers, name="labelers")
    rows = [np.asarray(r, dtype=np.float64).reshape(-1) for r in rankings]
    if not rows:
        return {"estimate": None, "low": None, "high": None}
    data, unit_group = _rank_units(item_arr, labeler_arr, rows)
    n_items = int(unit_group.max()) + 1
    columns = [np.flatnonzero(unit_group == g) for g in range(n_items)]

    def statistic(picked: np.ndarray) -> float | None:
        return krippendorff_alpha(reliability_data=data[:, np.concatenate([columns[g] for g in picked])],
                                  level="ordinal")

    estimate = krippendorff_alpha(reliability_data=data, level="ordinal")
    ci = bootstrap_ci(statistic=statistic, n_items=n_items, n_resamples=n_resamples, seed=seed) \
        if n_resamples else None
    return _interval(ci, estimate)


def ranking_quality_report(
    *,
    items: npt.ArrayLike,
    labelers: npt.ArrayLike,
    rankings,
    display_orders=None,
    seconds: npt.ArrayLike | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Quality figures of a K-way ranking project from one row per annotation.

    Returns::

        {"n_annotations", "n_items", "n_labelers", "tie_share",
         "alpha_ordinal": {"estimate", "low", "high"},   # on ranks, 95% CI over items
         "mean_kendall_w", "mean_kendall_tau_b",
         "tau_b": {"labeler_ids", "nominal"},            # labeler × labeler mean tau-b (1 on
                                                         # the diagonal; "nominal" as kappa's key)
         "position_bias": {n, share, expected, difference, z, flagged, drivers} or None,
         "labelers": [{"id", "n", "loo_agreement", "n_loo", "first_share", "first_z",
                       "reliability", "median_seconds", "flags"}, ...]}

    ``loo_agreement`` is the leave-one-out Kendall's tau-b and ``reliability``
    the consensus weight (:func:`annotation.quality.ranking_reliability.ranking_reliability`).
    ``flags`` lists any of ``"spammer"`` (ranks no better than chance),
    ``"position_bias"`` (ranks by display order) and ``"too_fast"``.
    """
    item_arr = as_id_vector(items, name="items")
    labeler_arr = as_id_vector(labelers, name="labelers")
    check_lengths(items=item_arr, labelers=labeler_arr)
    rows = [np.asarray(r, dtype=np.float64).reshape(-1) for r in rankings]
    agreement = ranking_agreement(items=item_arr, annotators=labeler_arr, rankings=rows)
    fit = ranking_reliability(items=item_arr, labelers=labeler_arr, rankings=rows,
                              display_orders=display_orders)
    rows_out = []
    speed = labeler_speed(labelers=labeler_arr, seconds=seconds) if seconds is not None else None
    for g, key in enumerate(fit.labeler_ids):
        flags = []
        if fit.random_flagged[g]:
            flags.append("spammer")
        if fit.position_flagged[g]:
            flags.append("position_bias")
        median = None
        if speed is not None:
            median = nan_to_none(speed.median_seconds[g:g + 1])[0]
            if speed.flagged[g]:
                flags.append("too_fast")
        rows_out.append({
            "id": _plain(key), "n": int(fit.n[g]),
            "loo_agreement": nan_to_none(fit.loo_tau_b[g:g + 1])[0], "n_loo": int(fit.n_loo[g]),
            "first_share": nan_to_none(fit.first_share[g:g + 1])[0],
            "first_z": nan_to_none(fit.first_z[g:g + 1])[0],
            "reliability": float(fit.weight[g]), "median_seconds": median, "flags": flags,
        })
    tau = agreement.tau_b.copy()
    np.fill_diagonal(tau, 1.0)
    n = len(rows)
    position = None
    if display_orders is not None:
        position = fit.position.as_dict() | {"drivers": [_plain(d) for d in fit.position_drivers]}
    return {
        "n_annotations": n,
        "n_items": len(np.unique(item_arr)),
        "n_labelers": len(fit.labeler_ids),
        "tie_share": float(sum(len(set(r.tolist())) < len(r) for r in rows) / n) if n else None,
        "alpha_ordinal": rank_alpha(items=item_arr, labelers=labeler_arr, rankings=rows,
                                    n_resamples=n_resamples, seed=seed),
        "mean_kendall_w": agreement.mean_w(),
        "mean_kendall_tau_b": agreement.mean_tau_b(),
        "tau_b": {"labeler_ids": [_plain(k) for k in agreement.annotator_ids],
                  "nominal": nan_to_none(tau)},
        "position_bias": position,
        "labelers": rows_out,
    }


FEEDBACK_CLASSES = np.array([0.0, 1.0])  # thumbs down, thumbs up


def feedback_quality_report(
    *,
    items: npt.ArrayLike,
    labelers: npt.ArrayLike,
    feedback: npt.ArrayLike,
    ratings: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]] | None = None,
    seconds: npt.ArrayLike | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    low_agreement_below: float = 0.6,
) -> dict:
    """Quality figures of a single-response feedback project, one row per annotation.

    ``feedback`` is 1 (thumbs up) or 0 (down). ``ratings`` maps a criterion to
    its own (items, labelers, scores) triples (only the labels that rated it).
    Returns::

        {"n_annotations", "n_items", "n_labelers", "up_share",
         "alpha_nominal": {"estimate", "low", "high"},   # up / down, 95% CI
         "alpha_interval": {...},                        # the criteria scores, pooled:
                                                         # each (item, criterion) a unit
         "alpha_interval_by_criterion": {name: alpha},
         "percent_agreement",                            # up / down
         "kappa": {"labeler_ids", "nominal"},            # Cohen's kappa, labeler × labeler
         "low_agreement_item_ids",                       # Dawid–Skene posterior < threshold
         "labelers": [{"id", "n", "up_share", "loo_agreement", "loo_kappa", "ds_accuracy",
                       "ds_informativeness", "median_seconds", "flags"}, ...]}
    """
    item_arr = as_id_vector(items, name="items")
    labeler_arr = as_id_vector(labelers, name="labelers")
    y = np.asarray(feedback, dtype=np.float64)
    check_lengths(items=item_arr, labelers=labeler_arr, feedback=y)
    matrix = reliability_matrix(items=item_arr, annotators=labeler_arr, values=y)
    nominal_ci = krippendorff_alpha_ci(reliability_data=matrix.data, level="nominal",
                                       value_domain=FEEDBACK_CLASSES, n_resamples=n_resamples,
                                       seed=seed) if n_resamples else None
    kappa = pairwise_agreement(reliability_data=matrix.data, labels=FEEDBACK_CLASSES)

    by_criterion: dict[str, float | None] = {}
    pooled_items: list = []
    pooled_labelers: list = []
    pooled_scores: list = []
    for name, (raw_items, c_labelers, raw_scores) in (ratings or {}).items():
        # Each (item, criterion) is its own unit.
        c_items = [f"{i}:{name}" for i in np.asarray(raw_items).tolist()]
        scores = np.asarray(raw_scores, dtype=np.float64)
        if len(scores):
            m = reliability_matrix(items=c_items, annotators=c_labelers, values=scores)
            by_criterion[name] = krippendorff_alpha(reliability_data=m.data, level="interval")
        else:
            by_criterion[name] = None
        pooled_items += c_items
        pooled_labelers += np.asarray(c_labelers).tolist()
        pooled_scores += scores.tolist()
    interval: dict = {"estimate": None, "low": None, "high": None}
    if pooled_scores:
        m = reliability_matrix(items=pooled_items, annotators=pooled_labelers, values=pooled_scores)
        ci = krippendorff_alpha_ci(reliability_data=m.data, level="interval",
                                   n_resamples=n_resamples, seed=seed) if n_resamples else None
        interval = _interval(ci, krippendorff_alpha(reliability_data=m.data, level="interval"))

    labeler_ids = np.unique(labeler_arr)
    fields = ("n", "up_share", "loo_agreement", "loo_kappa", "ds_accuracy", "ds_informativeness",
              "median_seconds")
    rows: dict[Any, dict[str, Any]] = {key: {"id": _plain(key), **dict.fromkeys(fields), "flags": []}
                                       for key in labeler_ids}

    def put(ids: np.ndarray, field: str, values: np.ndarray, flags: np.ndarray | None, flag: str) -> None:
        for key, value, bad in zip(ids, nan_to_none(np.asarray(values, dtype=np.float64)),
                                   flags if flags is not None else [False] * len(ids), strict=True):
            rows[key][field] = value
            if bad:
                rows[key]["flags"].append(flag)

    for key in labeler_ids:
        mine = y[labeler_arr == key]
        rows[key]["n"] = int(len(mine))
        rows[key]["up_share"] = float(mine.mean())
    low_agreement: list = []
    if len(y):
        labels = y.astype(np.int64)
        fit = dawid_skene(items=item_arr, labelers=labeler_arr, labels=labels,
                          classes=np.array([0, 1]))
        spam = np.isin(fit.labeler_ids, fit.spammers())
        put(fit.labeler_ids, "ds_accuracy", fit.labeler_accuracy, None, "")
        put(fit.labeler_ids, "ds_informativeness", fit.labeler_informativeness, spam, "spammer")
        low_agreement = consensus_dawid_skene(result=fit).low_agreement(
            threshold=low_agreement_below).tolist()
        loo = leave_one_out_agreement(items=item_arr, labelers=labeler_arr, labels=labels)
        put(loo.labeler_ids, "loo_agreement", loo.agreement, None, "")
        put(loo.labeler_ids, "loo_kappa", loo.kappa, loo.flagged, "disagrees")
    if seconds is not None:
        speed = labeler_speed(labelers=labeler_arr, seconds=seconds)
        put(speed.labeler_ids, "median_seconds", speed.median_seconds, speed.flagged, "too_fast")

    n = len(y)
    return {
        "n_annotations": n,
        "n_items": len(np.unique(item_arr)),
        "n_labelers": len(labeler_ids),
        "up_share": float(y.mean()) if n else None,
        "alpha_nominal": _interval(
            nominal_ci, krippendorff_alpha(reliability_data=matrix.data, level="nominal")),
        "alpha_interval": interval,
        "alpha_interval_by_criterion": by_criterion,
        "percent_agreement": percent_agreement(reliability_data=matrix.data),
        "kappa": {"labeler_ids": [_plain(k) for k in matrix.annotator_ids],
                  "nominal": kappa.as_dict()["kappa"]},
        "low_agreement_item_ids": low_agreement,
        "labelers": list(rows.values()),
    }
