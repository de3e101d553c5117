"""Kendall's tau-b and W against scipy and a worked example."""

import numpy as np
import pytest
from scipy import stats

from annotation.quality import kendall_tau_b, kendall_w, ranking_agreement

TOL = 1e-9
nan = np.nan


@pytest.mark.parametrize("n", [2, 3, 7, 50, 1000, 5000])
def test_tau_b_equals_scipy_with_ties(n):
    rng = np.random.default_rng(n)
    for _ in range(10):
        x = rng.integers(0, 6, n).astype(float)
        y = x + rng.integers(-3, 4, n)
        expected = stats.kendalltau(x, y).statistic
        ours = kendall_tau_b(x=x, y=y)
        if np.isnan(expected):
            assert ours is None
        else:
            assert ours == pytest.approx(expected, abs=TOL)


def test_tau_b_equals_scipy_on_continuous_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    y = x + rng.normal(size=3000)
    assert kendall_tau_b(x=x, y=y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=TOL)


def test_tau_b_ignores_missing_pairs():
    x = np.array([1, 2, nan, 4, 5, 3])
    y = np.array([2, 1, 3, nan, 5, 4])
    keep = ~np.isnan(x) & ~np.isnan(y)
    assert kendall_tau_b(x=x, y=y) == pytest.approx(stats.kendalltau(x[keep], y[keep]).statistic, abs=TOL)


def test_tau_b_of_identical_and_reversed_rankings():
    assert kendall_tau_b(x=[1, 2, 3, 4], y=[1, 2, 3, 4]) == pytest.approx(1.0)
    assert kendall_tau_b(x=[1, 2, 3, 4], y=[4, 3, 2, 1]) == pytest.approx(-1.0)


def test_tau_b_degenerate_inputs_are_none():
    assert kendall_tau_b(x=[1], y=[2]) is None
    assert kendall_tau_b(x=[], y=[]) is None
    assert kendall_tau_b(x=[1, 1, 1], y=[1, 2, 3]) is None  # constant ranking
    assert kendall_tau_b(x=[1, nan], y=[nan, 2]) is None


@pytest.mark.parametrize("seed", range(20))
def test_kendall_w_equals_scipy_friedman_statistic(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 8)), int(rng.integers(3, 9))
    scores = rng.integers(0, 4, (m, n)).astype(float)  # plenty of ties
    assert not (scores == scores[:, :1]).all(), "seeded data must not be all ties"
    friedman = stats.friedmanchisquare(*scores.T).statistic
    assert kendall_w(scores=scores) == pytest.approx(friedman / (m * (n - 1)), abs=TOL)


def test_kendall_w_worked_example():
    # Three judges rank four objects: rank sums 4, 6, 8, 12 (mean 7.5), S = 35,
    # W = 12 * 35 / (3^2 * (4^3 - 4)) = 420 / 540 = 7/9.
    ranks = [[1, 2, 3, 4], [2, 1, 3, 4], [1, 3, 2, 4]]
    assert kendall_w(scores=ranks) == pytest.approx(7 / 9, abs=TOL)


def test_kendall_w_tie_correction():
    # Ranks with ties: row 2 ties objects 1 and 2 (t = 2 -> T = 6).
    scores = [[1, 2, 3], [1, 1, 2]]
    # Average ranks: [1, 2, 3] and [1.5, 1.5, 3]; R = 2.5, 3.5, 6; S = 2.25 + 0.25 + 6.25 = 6.5 (mean 4).
    assert kendall_w(scores=scores, tie_correction=False) == pytest.approx(12 * 6.5 / (4 * 24), abs=TOL)
    assert kendall_w(scores=scores) == pytest.approx(12 * 6.5 / (4 * 24 - 2 * 6), abs=TOL)


def test_kendall_w_degenerate_inputs_are_none():
    assert kendall_w(scores=[[1, 2, 3]]) is None  # one rater
    assert kendall_w(scores=[[1], [1]]) is None  # one object
    assert kendall_w(scores=[[1, 1, 1], [2, 2, 2]]) is None  # all tied
    assert kendall_w(scores=[[1, 2, 3], [1, nan, 2]]) is None  # one complete rater left
    assert kendall_w(scores=np.zeros((0, 3))) is None


def test_ranking_agreement_matches_the_scalar_functions():
    rng = np.random.default_rng(1)
    items, annotators, rankings = [], [], []
    for item in range(40):
        k = 3 if item % 2 else 5
        truth = rng.permutation(k)
        for who in rng.choice(6, size=int(rng.integers(1, 5)), replace=False):
            noisy = truth + rng.normal(scale=1.5, size=k)
            items.append(item * 10)
            annotators.append(f"u{who}")
            rankings.append(np.argsort(np.argsort(noisy)) // 2 + 1)  # dense-ish ranks with ties
    result = ranking_agreement(items=items, annotators=annotators, rankings=rankings)
    items_arr, ann_arr = np.array(items), np.array(annotators)
    for i, item in enumerate(result.item_ids):
        rows = [rankings[t] for t in np.flatnonzero(items_arr == item)]
        expected = kendall_w(scores=np.array(rows))
        assert (expected is None) == (not result.w_defined[i])
        if expected is not None:
            assert result.kendall_w[i] == pytest.approx(expected, abs=TOL)
    for a, b in [(0, 1), (2, 5), (1, 3)]:
        name_a, name_b = result.annotator_ids[a], result.annotator_ids[b]
        taus = []
        for item in result.item_ids:
            ta = np.flatnonzero((items_arr == item) & (ann_arr == name_a))
            tb = np.flatnonzero((items_arr == item) & (ann_arr == name_b))
            if len(ta) and len(tb):
                tau = kendall_tau_b(x=rankings[ta[0]], y=rankings[tb[0]])
                if tau is not None:
                    taus.append(tau)
        assert result.n_common[a, b] == len(taus)
        if taus:
            assert result.tau_b[a, b] == pytest.approx(np.mean(taus), abs=TOL)
            assert result.tau_b[b, a] == pytest.approx(np.mean(taus), abs=TOL)
    assert result.mean_w() is not None and result.mean_tau_b() is not None
    assert result.as_dict()["tau_b"][0][0] is None  # the diagonal is undefined


def test_ranking_agreement_of_one_ranking_has_nothing_defined():
    result = ranking_agreement(items=[1], annotators=[1], rankings=[[1, 2, 3]])
    assert result.mean_w() is None and result.mean_tau_b() is None


def test_ranking_agreement_of_nothing_is_empty():
    result = ranking_agreement(items=[], annotators=[], rankings=[])
    assert len(result.item_ids) == 0 and result.mean_w() is None


def test_ranking_agreement_rejects_ragged_rankings_of_one_item():
    with pytest.raises(ValueError, match="same length"):
        ranking_agreement(items=[1, 1], annotators=[1, 2], rankings=[[1, 2, 3], [1, 2]])


def test_ranking_agreement_rejects_duplicate_rankings():
    with pytest.raises(ValueError, match="more than one"):
        ranking_agreement(items=[1, 1], annotators=[1, 1], rankings=[[1, 2], [2, 1]])
