"""Bradley–Terry model strengths from pairwise outcomes, reported as Chatbot Arena does.

A battle is one comparison between the responses of two different models:
``model_a[t]``, ``model_b[t]`` and ``outcome[t]``, the score of A (1 = A won,
0.5 = tie, 0 = B won; see :func:`annotation.quality.pairwise.outcome_for_a`).
Ties count as half a win for each side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from annotation.quality._common import (
    FloatArray,
    IntArray,
    as_finite_vector,
    as_id_vector,
    check_lengths,
    check_probability,
    encode,
)

Method = Literal["newton", "mm"]

#: Chatbot Arena's reporting scale: rating = INITIAL + SCALE / ln(BASE) * beta.
ARENA_SCALE = 400.0
ARENA_BASE = 10.0
ARENA_INITIAL = 1000.0


@dataclass(frozen=True)
class BradleyTerryFit:
    """Fitted strengths ``beta`` (natural log scale, mean 0) per model id.

    ``P(i beats j) = 1 / (1 + exp(-(beta_i - beta_j)))``. ``wins`` counts wins
    with ties as halves; ``n_battles`` all battles a model took part in.
    """

    models: np.ndarray
    strengths: FloatArray
    wins: FloatArray
    n_battles: IntArray
    n_iter: int
    converged: bool

    def ratings(
        self, *, scale: float = ARENA_SCALE, base: float = ARENA_BASE, initial: float = ARENA_INITIAL
    ) -> FloatArray:
        """Elo-like ratings ``initial + scale * beta / ln(base)`` (400-point, base-10 logistic)."""
        return initial + scale * self.strengths / math.log(base)


def _aggregate(
    a: IntArray, b: IntArray, outcome: FloatArray, n_models: int, weights: FloatArray | None = None
) -> FloatArray:
    """``W[i, j]`` = (weighted) score of ``i`` in its battles against ``j``."""
    w = np.ones(len(a)) if weights is None else weights
    size = n_models * n_models
    wins = np.bincount(a * n_models + b, weights=w * outcome, minlength=size)
    wins += np.bincount(b * n_models + a, weights=w * (1.0 - outcome), minlength=size)
    return cast(FloatArray, wins.reshape(n_models, n_models))  # float64: numpy's stubs say integer


def _strongly_connected(wins: FloatArray) -> bool:
    """Whether every model can be reached from every other along "scored against" edges.

    Without a prior the maximum-likelihood strengths exist (are finite) iff
    this holds (Hunter 2004, assumption 1).
    """
    n = len(wins)
    if n <= 1:
        return True
    edges = wins > 0
    for graph in (edges, edges.T):
        reached = np.zeros(n, dtype=bool)
        reached[0] = True
        while True:
            grown = reached | graph[reached].any(axis=0)
            if (grown == reached).all():
                break
            reached = grown
        if not reached.all():
            return False
    return True


def _log_likelihood(beta: FloatArray, wins: FloatArray, prior: float) -> float:
    diff = beta[:, None] - beta[None, :]
    value = -(wins * np.logaddexp(0.0, -diff)).sum()
    value -= 0.5 * prior * (np.logaddexp(0.0, -beta) + np.logaddexp(0.0, beta)).sum()
    return float(value)


def _fit_newton(
    wins: FloatArray, prior: float, tol: float, max_iter: int, start: FloatArray | None
) -> tuple[FloatArray, int, bool]:
    n = len(wins)
    games = wins + wins.T
    beta = np.zeros(n) if start is None else start.copy()
    current = _log_likelihood(beta, wins, prior)
    for iteration in range(1, max_iter + 1):
        p = 1.0 / (1.0 + np.exp(-(beta[:, None] - beta[None, :])))
        s = 1.0 / (1.0 + np.exp(-beta))
        gradient = (wins - games * p).sum(axis=1) + prior * (0.5 - s)
        curvature = games * p * (1.0 - p)
        hessian = np.diag(curvature.sum(axis=1) + prior * s * (1.0 - s)) - curvature
        hessian += 1.0 / n  # fixes the free shift when prior = 0; the gradient sums to 0 then
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while True:  # backtracking keeps every step an ascent step
            candidate = beta + scale * step
            value = _log_likelihood(candidate, wins, prior)
            if value >= current - 1e-12 * abs(current) or scale < 1e-8:
                break
            scale /= 2.0
        beta, current = candidate, value
        if float(np.abs(scale * step).max()) < tol:
            return beta, iteration, True
    return beta, max_iter, False


def _fit_mm(
    wins: FloatArray, prior: float, tol: float, max_iter: int, start: FloatArray | None
) -> tuple[FloatArray, int, bool]:
    games = wins + wins.T
    total_wins = wins.sum(axis=1) + prior / 2.0
    gamma = np.ones(len(wins)) if start is None else np.exp(start)
    for iteration in range(1, max_iter + 1):
        denominator = (games / (gamma[:, None] + gamma[None, :])).sum(axis=1) + prior / (gamma + 1.0)
        updated = total_wins / denominator
        if prior == 0:
            updated /= math.exp(float(np.log(updated).mean()))
        change = float(np.abs(np.log(updated) - np.log(gamma)).max())
        gamma = updated
        if change < tol:
            return np.log(gamma), iteration, True
    return np.log(gamma), max_iter, False


def _fit_mm_batch(wins: FloatArray, prior: float, tol: float, max_iter: int, start: FloatArray) -> FloatArray:
    """:func:`_fit_mm` on a stack (B, M, M) of win matrices at once (bootstrap refits); centred betas."""
    games = wins + wins.transpose(0, 2, 1)
    total_wins = wins.sum(axis=2) + prior / 2.0
    gamma = np.repeat(np.exp(start)[None, :], len(wins), axis=0)
    for _ in range(max_iter):
        denominator = (games / (gamma[:, :, None] + gamma[:, None, :])).sum(axis=2) + prior / (gamma + 1.0)
        updated = total_wins / denominator
        updated /= np.exp(np.log(updated).mean(axis=1, keepdims=True))
        change = float(np.abs(np.log(updated) - np.log(gamma)).max())
        gamma = updated
        if change < tol:
            break
    beta = np.log(gamma)
    return beta - beta.mean(axis=1, keepdims=True)


def _fit(
    wins: FloatArray, method: Method, prior: float, tol: float, max_iter: int | None, start: FloatArray | None
) -> tuple[FloatArray, int, bool]:
    if method == "newton":
        beta, n_iter, converged = _fit_newton(wins, prior, tol, max_iter or 100, start)
    elif method == "mm":
        beta, n_iter, converged = _fit_mm(wins, prior, tol, max_iter or 100_000, start)
    else:
        raise ValueError(f"method must be 'newton' or 'mm', got {method!r}")
    return beta - beta.mean(), n_iter, converged


def _battles(model_a: npt.ArrayLike, model_b: npt.ArrayLike, outcome: npt.ArrayLike):
    a_arr = as_id_vector(model_a, name="model_a")
    b_arr = as_id_vector(model_b, name="model_b")
    out = as_finite_vector(outcome, name="outcome")
    check_lengths(model_a=a_arr, model_b=b_arr, outcome=out)
    if ((out < 0) | (out > 1)).any():
        raise ValueError("outcome must be in [0, 1] (1 = A won, 0.5 = tie, 0 = B won)")
    if len(a_arr) and (a_arr == b_arr).any():
        raise ValueError("a battle must compare two different models")
    models, codes = encode(np.concatenate([a_arr, b_arr]))
    n = len(a_arr)
    return models, codes[:n], codes[n:], out


def _check_fit_params(prior_games: float, tol: float) -> None:
    if prior_games < 0 or not math.isfinite(prior_games):
        raise ValueError("prior_games must be a non-negative number")
    if tol <= 0:
        raise ValueError("tol must be positive")


def bradley_terry(
    *,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    method: Method = "newton",
    prior_games: float = 1.0,
    tol: float = 1e-10,
    max_iter: int | None = None,
) -> BradleyTerryFit:
    """Fit Bradley–Terry strengths by maximum (penalized) likelihood.

    With ``W_ij`` the score of ``i`` against ``j`` (ties as 1/2) the fit maximizes::

        l(beta) = sum_ij W_ij log sigma(beta_i - beta_j)
                  + (prior_games / 2) sum_i [log sigma(beta_i) + log sigma(-beta_i)]

    The second term is ``prior_games`` virtual ties of every model against a
    reference of strength 0: it keeps strengths finite for an undefeated or
    winless model and for disconnected comparison graphs, and its pull fades
    as real battles accumulate. ``prior_games=0`` gives the plain MLE (as
    Chatbot Arena's unpenalized logistic regression), which exists only if the
    comparison graph is strongly connected (ValueError otherwise).

    ``method="newton"``: Newton–Raphson on ``l`` with backtracking (a few
    iterations). ``method="mm"``: Hunter's (2004) minorize–maximize update
    ``gamma_i <- (W_i + prior/2) / (sum_j N_ij / (gamma_i + gamma_j) + prior / (gamma_i + 1))``
    with ``gamma = exp(beta)`` (many cheap iterations). Both stop when no strength
    moves more than ``tol``. Strengths are reported centred (mean 0). Empty
    input gives an empty fit.
    """
    _check_fit_params(prior_games, tol)
    models, a, b, out = _battles(model_a, model_b, outcome)
    n_models = len(models)
    wins = _aggregate(a, b, out, n_models)
    n_battles = (np.bincount(a, minlength=n_models) + np.bincount(b, minlength=n_models)).astype(np.int64)
    if n_models == 0:
        return BradleyTerryFit(models, np.zeros(0), np.zeros(0), n_battles, 0, True)
    if prior_games == 0 and not _strongly_connected(wins):
        raise ValueError(
            "the comparison graph is not strongly connected (some model never scored against "
            "another group), so the plain MLE is infinite; use prior_games > 0"
        )
    beta, n_iter, converged = _fit(wins, method, prior_games, tol, max_iter, None)
    return BradleyTerryFit(models, beta, wins.sum(axis=1), n_battles, n_iter, converged)


@dataclass(frozen=True)
class LeaderboardRow:
    """One model's rating with its bootstrap interval.

    ``rank`` follows Chatbot Arena: 1 + the number of models whose interval
    lies entirely above this model's (models with overlapping intervals share
    a rank).
    """

    model: object
    rating: float
    ci_low: float
    ci_high: float
    rank: int
    n_battles: int
    win_rate: float


@dataclass(frozen=True)
class Leaderboard:
    """Models sorted by rating, best first."""

    rows: list[LeaderboardRow]
    confidence: float
    n_resamples: int
    n_defined: int
    n_battles: int

    def as_dict(self) -> dict:
        return {
            "confidence": self.confidence,
            "n_resamples": self.n_resamples,
            "n_defined": self.n_defined,
            "n_battles": self.n_battles,
            "rows": [
                {
                    "model": row.model.item() if isinstance(row.model, np.generic) else row.model,
                    "rating": row.rating,
                    "ci_low": row.ci_low,
                    "ci_high": row.ci_high,
                    "rank": row.rank,
                    "n_battles": row.n_battles,
                    "win_rate": row.win_rate,
                }
                for row in self.rows
            ],
        }


def leaderboard(
    *,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    method: Method = "newton",
    prior_games: float = 1.0,
    scale: float = ARENA_SCALE,
    base: float = ARENA_BASE,
    initial: float = ARENA_INITIAL,
    anchor: tuple[object, float] | None = None,
) -> Leaderboard:
    """Bradley–Terry ratings with percentile bootstrap intervals, as Chatbot Arena reports them.

    ``rating = initial + scale * beta / ln(base)`` from :func:`bradley_terry`
    on all battles (mean rating = ``initial``, or shifted so that
    ``anchor = (model, rating)`` holds). The interval is the
    ``[(1-c)/2, (1+c)/2]`` percentile range over ``n_resamples`` refits on
    battles resampled with replacement (seeded), each shifted the same way
    (with ``prior_games=0``, resamples without a finite MLE are left out and
    ``n_defined`` says how many were used). All resamples are refitted
    together with the MM update, vectorized over resamples.
    ``win_rate`` is the model's score share (ties as halves). Empty input
    gives an empty board.
    """
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    check_probability(confidence, name="confidence")
    fit = bradley_terry(
        model_a=model_a, model_b=model_b, outcome=outcome, method=method, prior_games=prior_games
    )
    models, a, b, out = _battles(model_a, model_b, outcome)
    n_models, n = len(models), len(a)
    if n_models == 0:
        return Leaderboard(rows=[], confidence=confidence, n_resamples=n_resamples, n_defined=0, n_battles=0)
    if anchor is not None:
        position = np.flatnonzero(models == anchor[0])
        if len(position) == 0:
            raise ValueError(f"anchor model {anchor[0]!r} has no battles")
        anchor_index, anchor_rating = int(position[0]), float(anchor[1])

    def to_ratings(beta: FloatArray) -> FloatArray:
        ratings = initial + scale * beta / math.log(base)
        if anchor is not None:
            ratings = ratings + (anchor_rating - ratings[anchor_index])
        return ratings

    rng = np.random.default_rng(seed)
    samples: list[FloatArray] = []
    size = n_models * n_models
    pair = a * n_models + b
    chunk = max(1, min(n_resamples, (1 << 22) // max(n, 1)))
    for begin in range(0, n_resamples, chunk):
        count = min(chunk, n_resamples - begin)
        drawn = rng.integers(0, n, (count, n))
        batch = (np.arange(count)[:, None] * size + pair[drawn]).reshape(-1)
        score = out[drawn].reshape(-1)
        wins = cast(FloatArray, np.bincount(batch, weights=score, minlength=count * size))  # float64
        wins += np.bincount(batch, weights=1.0 - score, minlength=count * size).reshape(
            count, n_models, n_models
        ).transpose(0, 2, 1).reshape(-1)
        wins = wins.reshape(count, n_models, n_models)
        if prior_games == 0:
            # Resamples without a finite MLE are left out of the interval.
            wins = wins[[_strongly_connected(w) for w in wins]]
        if len(wins):
            betas = _fit_mm_batch(wins, prior_games, 1e-9, 100_000, fit.strengths)
            samples.extend(to_ratings(beta) for beta in betas)
    tail = (1.0 - confidence) / 2.0
    if samples:
        low, high = np.quantile(np.asarray(samples), [tail, 1.0 - tail], axis=0)
    else:
        low = high = to_ratings(fit.strengths)
    ratings = to_ratings(fit.strengths)
    win_rate = fit.wins / np.maximum(fit.n_battles, 1)
    rows = [
        LeaderboardRow(
            model=models[i].item() if isinstance(models[i], np.generic) else models[i],
            rating=float(ratings[i]),
            ci_low=float(low[i]),
            ci_high=float(high[i]),
            rank=1 + int((low > high[i]).sum()),
            n_battles=int(fit.n_battles[i]),
            win_rate=float(win_rate[i]),
        )
        for i in np.argsort(-ratings, kind="stable")
    ]
    return Leaderboard(
        rows=rows, confidence=confidence, n_resamples=n_resamples, n_defined=len(samples), n_battles=n
    )
