"""Agreement statistics against reference implementations and published values."""

import itertools
import math

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotation.quality import (
    STRENGTH_SCALE,
    cohen_kappa,
    collapse_strength,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_agreement,
    percent_agreement,
    reliability_matrix,
    value_counts,
)
from tests.quality.conftest import random_reliability

TOL = 1e-9
nan = np.nan
LEVELS = ("nominal", "ordinal", "interval")

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", 4 observers × 12 units.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]
# Krippendorff's 3 coders × 15 units example (also on Wikipedia).
KRIPPENDORFF_3X15 = [
    [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
    [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
    [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
]
# Fleiss (1971): 30 patients, 6 psychiatrists each, 5 diagnoses (1..5); published kappa .430.
FLEISS_1971 = np.array([
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
])
# Wikipedia's Fleiss' kappa example: 10 subjects × 14 raters × 5 categories; kappa 0.210, P_bar 0.378.
FLEISS_WIKIPEDIA = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])


# --------------------------------------------------------------------------- Krippendorff


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("seed", range(6))
def test_alpha_equals_krippendorff_package_on_random_data_with_missing_values(level, seed):
    rng = np.random.default_rng(seed)
    shape = [(3, 40), (5, 200), (10, 500), (2, 30), (7, 1000), (4, 15)][seed]
    data = random_reliability(rng, annotators=shape[0], items=shape[1], missing=[0.0, 0.3, 0.6][seed % 3])
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(reliability_data=data, level=level) == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_equals_krippendorff_package_on_many_distinct_non_integer_values(level):
    # ~80 distinct values: exercises the general path (the fast path covers small integer scales).
    # The reference package is O(items × values²), so the data stay small.
    rng = np.random.default_rng(11)
    data = (rng.normal(size=(6, 200)) + rng.normal(size=200)).round(1)
    data[rng.random(data.shape) < 0.4] = np.nan
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(reliability_data=data, level=level) == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_with_a_value_domain_wider_than_the_data_equals_the_package(level):
    rng = np.random.default_rng(3)
    data = random_reliability(rng, annotators=4, items=60, missing=0.2, values=(1, 2, 4, 7))
    domain = [0, 1, 2, 3, 4, 5, 6, 7, 9]
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=domain)
    assert krippendorff_alpha(reliability_data=data, level=level, value_domain=domain) == pytest.approx(
        expected, abs=TOL
    )


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_from_counts_equals_alpha_from_the_matrix(level):
    rng = np.random.default_rng(5)
    data = random_reliability(rng, annotators=6, items=300, missing=0.3)
    counts, domain = value_counts(reliability_data=data)
    from_counts = krippendorff_alpha(counts=counts, value_domain=domain, level=level)
    reference = krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
    assert from_counts == pytest.approx(krippendorff_alpha(reliability_data=data, level=level), abs=TOL)
    assert from_counts == pytest.approx(reference, abs=TOL)


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_alpha_reproduces_krippendorff_2011_published_values(level, published):
    assert round(krippendorff_alpha(reliability_data=KRIPPENDORFF_2011, level=level), 3) == published


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.691), ("interval", 0.811)])
def test_alpha_reproduces_the_three_coder_example(level, published):
    assert round(krippendorff_alpha(reliability_data=KRIPPENDORFF_3X15, level=level), 3) == published


def test_alpha_of_strengths_on_the_five_point_scale_and_collapsed():
    rng = np.random.default_rng(8)
    strengths = random_reliability(rng, annotators=5, items=400, missing=0.3)
    ordinal = krippendorff_alpha(reliability_data=strengths, level="ordinal", value_domain=STRENGTH_SCALE)
    collapsed = collapse_strength(strengths)
    nominal = krippendorff_alpha(reliability_data=collapsed, level="nominal")
    assert ordinal == pytest.approx(
        krippendorff.alpha(strengths, level_of_measurement="ordinal", value_domain=STRENGTH_SCALE), abs=TOL
    )
    assert nominal == pytest.approx(krippendorff.alpha(collapsed, level_of_measurement="nominal"), abs=TOL)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_is_none_for_a_single_annotator(level):
    assert krippendorff_alpha(reliability_data=[[1, 2, 3, 1]], level=level) is None


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_is_none_when_all_labels_are_identical(level):
    assert krippendorff_alpha(reliability_data=[[2, 2, nan], [2, 2, 2]], level=level) is None


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("data", [np.zeros((0, 0)), np.zeros((3, 0)), np.full((3, 4), np.nan)])
def test_alpha_is_none_for_empty_data(level, data):
    assert krippendorff_alpha(reliability_data=data, level=level) is None


def test_alpha_is_none_when_no_item_has_two_values():
    assert krippendorff_alpha(reliability_data=[[1, nan], [nan, 2]]) is None


def test_alpha_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha(reliability_data=[1, 2, 3])
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(reliability_data=[[1, 2]], level="ratio")
    with pytest.raises(ValueError, match="outside the given domain"):
        krippendorff_alpha(reliability_data=[[1, 2], [1, 5]], value_domain=[1, 2, 3])
    with pytest.raises(ValueError, match="infinite"):
        krippendorff_alpha(reliability_data=[[1, np.inf], [1, 2]])
    with pytest.raises(ValueError, match="exactly one"):
        krippendorff_alpha()


# --------------------------------------------------------------------------- Fleiss, percent


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_kappa_equals_statsmodels(seed):
    rng = np.random.default_rng(seed)
    raters = int(rng.integers(2, 9))
    data = random_reliability(rng, annotators=raters, items=int(rng.integers(5, 300)), missing=0.0)
    counts, _ = value_counts(reliability_data=data)
    assert fleiss_kappa(counts=counts) == pytest.approx(sm_fleiss_kappa(counts), abs=TOL)
    assert fleiss_kappa(reliability_data=data) == pytest.approx(sm_fleiss_kappa(counts), abs=TOL)


def test_fleiss_kappa_reproduces_fleiss_1971():
    kappa = fleiss_kappa(reliability_data=FLEISS_1971.T)
    assert round(kappa, 3) == 0.430


def test_fleiss_kappa_and_percent_agreement_reproduce_the_wikipedia_example():
    assert round(fleiss_kappa(counts=FLEISS_WIKIPEDIA), 3) == 0.210
    assert round(percent_agreement(counts=FLEISS_WIKIPEDIA), 3) == 0.378


def test_fleiss_kappa_rejects_unequal_rater_counts_unless_told_which_to_use():
    data = np.array([[1, 2, 1, 1], [1, 2, 2, nan], [1, 2, 1, nan]])
    with pytest.raises(ValueError, match="raters_per_item"):
        fleiss_kappa(reliability_data=data)
    counts, _ = value_counts(reliability_data=data)
    full = counts[counts.sum(axis=1) == 3]
    assert fleiss_kappa(reliability_data=data, raters_per_item=3) == pytest.approx(
        sm_fleiss_kappa(full), abs=TOL
    )


def test_fleiss_kappa_ignores_unrated_items():
    data = np.array([[1, 2, nan, 1], [1, 2, nan, 2]])
    assert fleiss_kappa(reliability_data=data) == pytest.approx(
        fleiss_kappa(reliability_data=data[:, [0, 1, 3]]), abs=TOL
    )


def test_fleiss_kappa_degenerate_inputs_are_none():
    assert fleiss_kappa(counts=np.zeros((0, 3))) is None
    assert fleiss_kappa(counts=[[1, 0], [0, 1]]) is None  # one rater per item
    assert fleiss_kappa(counts=[[3, 0], [3, 0]]) is None  # every rating in one category
    assert fleiss_kappa(reliability_data=[[1, 2]], raters_per_item=2) is None


def test_percent_agreement_is_the_mean_share_of_agreeing_pairs():
    # Item 1: 3 raters all agree (1.0); item 2: votes 1,1,2 -> 1 of 3 pairs (1/3); item 3: one value, skipped.
    data = [[1, 1, 4], [1, 1, nan], [1, 2, nan]]
    assert percent_agreement(reliability_data=data) == pytest.approx((1.0 + 1.0 / 3.0) / 2.0, abs=TOL)


def test_percent_agreement_degenerate_inputs_are_none():
    assert percent_agreement(reliability_data=[[1, 2, 3]]) is None
    assert percent_agreement(reliability_data=np.zeros((2, 0))) is None


# --------------------------------------------------------------------------- Cohen


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(3))
def test_pairwise_kappa_equals_scikit_learn_for_every_annotator_pair(weights, seed):
    rng = np.random.default_rng(seed)
    data = random_reliability(rng, annotators=6, items=300, missing=0.4)
    result = pairwise_agreement(reliability_data=data, weights=weights, labels=STRENGTH_SCALE)
    for a, b in itertools.combinations(range(len(data)), 2):
        both = ~np.isnan(data[a]) & ~np.isnan(data[b])
        expected = cohen_kappa_score(data[a][both], data[b][both], labels=STRENGTH_SCALE, weights=weights)
        assert result.kappa[a, b] == pytest.approx(expected, abs=TOL)
        assert result.kappa[b, a] == pytest.approx(expected, abs=TOL)
        assert result.n_common[a, b] == both.sum()
        assert result.percent[a, b] == pytest.approx((data[a][both] == data[b][both]).mean(), abs=TOL)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_default_labels_equal_scikit_learn_defaults(weights):
    rng = np.random.default_rng(4)
    data = random_reliability(rng, annotators=2, items=200, missing=0.3, values=(0, 1, 3, 4))
    both = ~np.isnan(data[0]) & ~np.isnan(data[1])
    expected = cohen_kappa_score(data[0][both], data[1][both], weights=weights)
    assert cohen_kappa(rater_a=data[0], rater_b=data[1], weights=weights) == pytest.approx(expected, abs=TOL)


def test_cohen_kappa_reproduces_the_textbook_yes_no_example():
    # 50 proposals: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    a = np.array([1] * 25 + [0] * 25)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    assert cohen_kappa(rater_a=a, rater_b=b) == pytest.approx(0.4, abs=TOL)


def test_cohen_kappa_reproduces_the_sas_example():
    # SAS PROC FREQ example (statsmodels' test table): kappa 0.4842, linear weighted 0.4701.
    table = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    a = np.repeat(np.repeat(np.arange(3), 3), table.ravel())
    b = np.repeat(np.tile(np.arange(3), 3), table.ravel())
    assert round(cohen_kappa(rater_a=a, rater_b=b), 4) == 0.4842
    assert round(cohen_kappa(rater_a=a, rater_b=b, weights="linear"), 4) == 0.4701


def test_cohen_kappa_degenerate_inputs_are_none():
    assert cohen_kappa(rater_a=[1, nan], rater_b=[nan, 2]) is None  # nothing in common
    assert cohen_kappa(rater_a=[1, 1, 1], rater_b=[1, 1, 1]) is None  # no variation
    assert cohen_kappa(rater_a=[], rater_b=[]) is None


def test_pairwise_agreement_marks_pairs_without_common_items_undefined():
    data = np.array([[1, 2, nan, nan], [2, 1, nan, nan], [nan, nan, 1, 2]])
    result = pairwise_agreement(reliability_data=data)
    assert not result.defined[0, 2] and math.isnan(result.kappa[0, 2])
    assert result.n_common[0, 2] == 0
    assert result.defined[0, 1]
    assert result.as_dict()["kappa"][0][2] is None
    assert result.mean_kappa() == pytest.approx(result.kappa[0, 1], abs=TOL)


def test_pairwise_agreement_with_one_annotator_has_no_pairs():
    result = pairwise_agreement(reliability_data=[[1, 2, 1]])
    assert result.kappa.shape == (1, 1)
    assert result.mean_kappa() is None


def test_pairwise_agreement_respects_min_common():
    data = np.array([[1, 2, 1, nan], [1, 2, 2, nan]])
    assert not pairwise_agreement(reliability_data=data, min_common=4).defined[0, 1]
    assert pairwise_agreement(reliability_data=data, min_common=3).defined[0, 1]


# --------------------------------------------------------------------------- reliability matrix


def test_reliability_matrix_pivots_triples_with_ids():
    matrix = reliability_matrix(items=[30, 10, 30, 20], annotators=["b", "a", "a", "b"], values=[1, 2, 3, 4])
    assert matrix.item_ids.tolist() == [10, 20, 30]
    assert matrix.annotator_ids.tolist() == ["a", "b"]
    np.testing.assert_array_equal(matrix.data, [[2, nan, 3], [nan, 4, 1]])


def test_reliability_matrix_rejects_a_second_value_for_the_same_cell():
    with pytest.raises(ValueError, match="more than one value"):
        reliability_matrix(items=[1, 1], annotators=[7, 7], values=[1, 2])


def test_reliability_matrix_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        reliability_matrix(items=[1, 2], annotators=[7], values=[1, 2])
