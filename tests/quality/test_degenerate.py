"""Degenerate inputs across the package: defined results, never a silent NaN."""

import math

import numpy as np
import pytest

import annotation.quality as q

EMPTY = np.zeros(0)


def scalars(value):
    """Every float reachable in a result (dataclass fields, dicts, lists)."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from scalars(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from scalars(v)
    elif hasattr(value, "as_dict"):
        yield from scalars(value.as_dict())


EMPTY_CALLS = {
    "alpha": lambda: q.krippendorff_alpha(reliability_data=np.zeros((0, 0))),
    "alpha_ci": lambda: q.krippendorff_alpha_ci(reliability_data=np.zeros((2, 0))),
    "fleiss": lambda: q.fleiss_kappa(counts=np.zeros((0, 3))),
    "percent": lambda: q.percent_agreement(reliability_data=np.zeros((2, 0))),
    "cohen": lambda: q.cohen_kappa(rater_a=EMPTY, rater_b=EMPTY),
    "pairwise": lambda: q.pairwise_agreement(reliability_data=np.zeros((0, 0))),
    "tau_b": lambda: q.kendall_tau_b(x=EMPTY, y=EMPTY),
    "w": lambda: q.kendall_w(scores=np.zeros((0, 0))),
    "rankings": lambda: q.ranking_agreement(items=[], annotators=[], rankings=[]),
    "dawid_skene": lambda: q.dawid_skene(items=[], labelers=[], labels=[]),
    "majority": lambda: q.consensus_majority(items=[], labels=[]),
    "weighted_mean": lambda: q.consensus_weighted_mean(items=[], strengths=[]),
    "loo": lambda: q.leave_one_out_agreement(items=[], labelers=[], labels=[]),
    "position": lambda: q.position_bias(strengths=[], a_first=np.zeros(0, dtype=bool), labelers=[]),
    "length": lambda: q.length_bias(strengths=[], length_a=[], length_b=[], labelers=[]),
    "speed": lambda: q.labeler_speed(labelers=[], seconds=[]),
    "bradley_terry": lambda: q.bradley_terry(model_a=[], model_b=[], outcome=[]),
    "leaderboard": lambda: q.leaderboard(model_a=[], model_b=[], outcome=[]),
    "matrix": lambda: q.reliability_matrix(items=[], annotators=[], values=[]),
}


@pytest.mark.parametrize("name", sorted(EMPTY_CALLS))
def test_empty_input_gives_a_defined_result_without_nan(name):
    result = EMPTY_CALLS[name]()
    assert not any(math.isnan(v) for v in scalars(result))


ONE_ANNOTATOR = np.array([[-2.0, 1.0, 0.0, 2.0]])
IDENTICAL = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])


@pytest.mark.parametrize("data", [ONE_ANNOTATOR, IDENTICAL], ids=["one_annotator", "identical"])
def test_agreement_figures_are_none_rather_than_nan(data):
    for level in ("nominal", "ordinal", "interval"):
        assert q.krippendorff_alpha(reliability_data=data, level=level) is None
        assert q.krippendorff_alpha_ci(reliability_data=data, level=level) is None
    assert q.fleiss_kappa(reliability_data=data) is None
    pairs = q.pairwise_agreement(reliability_data=data)
    assert pairs.mean_kappa() is None
    assert not any(math.isnan(v) for v in scalars(pairs))


def test_identical_labels_have_full_percent_agreement():
    assert q.percent_agreement(reliability_data=IDENTICAL) == 1.0


def test_one_labeler_crowd_functions_are_defined():
    items, labelers, labels = [1, 2, 3], [7, 7, 7], [-1, 1, 0]
    for result in (
        q.dawid_skene(items=items, labelers=labelers, labels=labels),
        q.consensus_majority(items=items, labels=labels),
        q.leave_one_out_agreement(items=items, labelers=labelers, labels=labels),
        q.labeler_speed(labelers=labelers, seconds=[1.0, 2.0, 3.0]),
    ):
        assert not any(math.isnan(v) for v in scalars(result))
