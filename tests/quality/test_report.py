"""The one-call pairwise report and gold accuracy."""

import json

import numpy as np
import pytest

from annotation.quality import gold_accuracy, krippendorff_alpha, pairwise_quality_report
from tests.quality.crowd import ALWAYS_LEFT, RANDOM_SPAMMER


def test_report_on_the_simulated_crowd_flags_the_spammers(crowd):
    report = pairwise_quality_report(
        items=crowd.items,
        labelers=crowd.labelers,
        strengths=crowd.strengths,
        a_first=crowd.a_first,
        seconds=crowd.seconds,
        length_a=crowd.length_a,
        length_b=crowd.length_b,
        n_resamples=50,
    )
    json.dumps(report)  # JSON-ready: plain Python types, None for undefined
    flags = {row["id"]: set(row["flags"]) for row in report["labelers"]}
    assert flags[ALWAYS_LEFT] >= {"spammer", "disagrees", "position_bias", "too_fast"}
    assert flags[RANDOM_SPAMMER] >= {"spammer", "disagrees", "too_fast"}
    assert all(not f for who, f in flags.items() if who not in (ALWAYS_LEFT, RANDOM_SPAMMER))
    alpha = report["alpha_ordinal"]
    assert alpha["low"] < alpha["estimate"] < alpha["high"]
    assert report["n_annotations"] == len(crowd.items)
    assert len(report["kappa"]["nominal"]) == 8


def test_report_keeps_no_preference_annotations_out_of_agreement():
    report = pairwise_quality_report(
        items=[1, 1, 2, 2, 3], labelers=["a", "b", "a", "b", "a"], strengths=[-2, -1, 1, 2, np.nan],
        n_resamples=10,
    )
    assert report["no_preference_share"] == pytest.approx(0.2)
    assert report["alpha_ordinal"]["estimate"] == pytest.approx(
        krippendorff_alpha(reliability_data=[[-2, 1], [-1, 2]], level="ordinal", value_domain=range(-2, 3))
    )


def test_report_of_an_empty_project():
    report = pairwise_quality_report(items=[], labelers=[], strengths=[])
    assert report["alpha_ordinal"] == {"estimate": None, "low": None, "high": None}
    assert report["labelers"] == [] and report["tie_share"] is None
    json.dumps(report)


def test_gold_accuracy_with_exact_answers_and_ranges():
    result = gold_accuracy(
        labelers=["a", "a", "b", "b"],
        answers=[-2, 1, 0, np.nan],
        expected_min=[-2, -2, 0, 1],
        expected_max=[-1, -1, 0, 2],
    )
    assert result.accuracy.tolist() == [0.5, 0.5]
    assert result.overall == 0.5


def test_gold_accuracy_of_nothing():
    result = gold_accuracy(labelers=[], answers=[], expected_min=[])
    assert result.overall is None and result.as_dict()["accuracy"] == []
