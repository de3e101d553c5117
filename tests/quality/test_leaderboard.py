"""Bradley–Terry fits and the leaderboard."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from annotation.quality import bradley_terry, leaderboard, outcome_for_a


def simulate_battles(rng, strengths, n, tie_rate=0.1):
    m = len(strengths)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p_a = 1.0 / (1.0 + np.exp(-(strengths[a] - strengths[b])))
    outcome = np.where(rng.random(n) < tie_rate, 0.5, (rng.random(n) < p_a).astype(float))
    return a, b, outcome


def test_plain_mle_equals_unpenalized_logistic_regression_with_ties_as_half_wins():
    rng = np.random.default_rng(0)
    a, b, outcome = simulate_battles(rng, np.linspace(-1, 1, 5), 2000)
    fit = bradley_terry(model_a=a, model_b=b, outcome=outcome, prior_games=0)
    n, m = len(a), 5
    x = np.zeros((n, m))
    x[np.arange(n), a], x[np.arange(n), b] = 1.0, -1.0
    # Chatbot Arena's encoding: each battle twice, as an A win weighted by the outcome and as a B win.
    lr = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-12, max_iter=10_000)
    lr.fit(np.vstack([x, x]), np.r_[np.ones(n), np.zeros(n)], sample_weight=np.r_[outcome, 1 - outcome])
    coef = lr.coef_[0] - lr.coef_[0].mean()
    np.testing.assert_allclose(fit.strengths, coef, atol=1e-6)


@pytest.mark.parametrize("prior_games", [0.0, 1.0])
def test_newton_and_mm_agree(prior_games):
    rng = np.random.default_rng(1)
    a, b, outcome = simulate_battles(rng, np.array([0.0, 0.5, -0.7, 1.2]), 800)
    newton = bradley_terry(model_a=a, model_b=b, outcome=outcome, prior_games=prior_games)
    mm = bradley_terry(model_a=a, model_b=b, outcome=outcome, prior_games=prior_games, method="mm")
    assert newton.converged and mm.converged
    np.testing.assert_allclose(newton.strengths, mm.strengths, atol=1e-8)


def test_leaderboard_recovers_the_ordering_of_model_strengths():
    rng = np.random.default_rng(2)
    strengths = np.array([0.3, -1.2, 1.5, 0.0, -0.4, 0.9])
    names = np.array(["m-a", "m-b", "m-c", "m-d", "m-e", "m-f"])
    a, b, outcome = simulate_battles(rng, strengths, 4000)
    board = leaderboard(model_a=names[a], model_b=names[b], outcome=outcome, n_resamples=300, seed=1)
    assert [row.model for row in board.rows] == names[np.argsort(-strengths)].tolist()
    assert [row.rank for row in board.rows] == list(range(1, 7))  # intervals separate every model


def test_leaderboard_intervals_cover_the_true_ratings():
    # Without ties the simulated data follow the Bradley–Terry model exactly (random ties
    # would shrink the fitted strengths towards each other).
    rng = np.random.default_rng(5)
    strengths = np.array([0.3, -1.2, 1.5, 0.0, -0.4, 0.9])
    names = np.array(["m-a", "m-b", "m-c", "m-d", "m-e", "m-f"])
    a, b, outcome = simulate_battles(rng, strengths, 4000, tie_rate=0.0)
    board = leaderboard(model_a=names[a], model_b=names[b], outcome=outcome, n_resamples=300, seed=1)
    true_ratings = 1000 + 400 * (strengths - strengths.mean()) / np.log(10)
    by_name = dict(zip(names, true_ratings, strict=True))
    for row in board.rows:
        standard_error = (row.ci_high - row.ci_low) / (2 * 1.96)
        assert abs(row.rating - by_name[row.model]) < 3 * standard_error
    assert all(row.ci_low < row.rating < row.ci_high for row in board.rows)
    assert np.mean([row.rating for row in board.rows]) == pytest.approx(1000.0)


def test_ratings_use_the_arena_scale():
    fit = bradley_terry(model_a=[0, 1, 0], model_b=[1, 0, 1], outcome=[1.0, 1.0, 1.0], prior_games=0)
    beta = fit.strengths
    assert beta[0] - beta[1] == pytest.approx(np.log(2.0))  # 2 wins to 1
    assert fit.ratings() == pytest.approx(1000 + 400 * beta / np.log(10))


def test_ties_count_as_half_wins():
    fit = bradley_terry(model_a=["x", "x"], model_b=["y", "y"], outcome=[0.5, 0.5], prior_games=0)
    assert fit.wins.tolist() == [1.0, 1.0]
    assert fit.strengths == pytest.approx([0.0, 0.0])


def test_prior_keeps_an_undefeated_model_finite():
    fit = bradley_terry(model_a=[0, 0, 0], model_b=[1, 1, 1], outcome=[1, 1, 1])
    assert np.isfinite(fit.strengths).all() and fit.strengths[0] > fit.strengths[1]
    with pytest.raises(ValueError, match="strongly connected"):
        bradley_terry(model_a=[0, 0, 0], model_b=[1, 1, 1], outcome=[1, 1, 1], prior_games=0)


def test_anchor_shifts_every_rating():
    rng = np.random.default_rng(3)
    a, b, outcome = simulate_battles(rng, np.array([0.0, 1.0, -1.0]), 600)
    board = leaderboard(model_a=a, model_b=b, outcome=outcome, n_resamples=50, anchor=(0, 1114.0))
    row = next(r for r in board.rows if r.model == 0)
    assert row.rating == pytest.approx(1114.0)


def test_leaderboard_ranks_overlapping_models_together():
    # Two equally strong models with few battles overlap; both get rank 1.
    board = leaderboard(model_a=["p", "q"] * 5, model_b=["q", "p"] * 5, outcome=[1, 1] * 5, n_resamples=100)
    assert [row.rank for row in board.rows] == [1, 1]


def test_leaderboard_from_strengths_and_empty_input():
    board = leaderboard(model_a=[], model_b=[], outcome=[])
    assert board.rows == [] and board.as_dict()["rows"] == []
    out = outcome_for_a([-2, 0, 1])
    assert bradley_terry(model_a=[1, 1, 2], model_b=[2, 2, 1], outcome=out).n_battles.tolist() == [3, 3]


def test_bad_battles_are_rejected():
    with pytest.raises(ValueError, match="different models"):
        bradley_terry(model_a=[1], model_b=[1], outcome=[1])
    with pytest.raises(ValueError, match="outcome"):
        bradley_terry(model_a=[1], model_b=[2], outcome=[2])
