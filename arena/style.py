"""Bradley–Terry with style covariates ("style control", as Chatbot Arena
reports it). Pure numpy, no Django.

Each battle t has the models a_t, b_t, the score y_t of A (1, 0.5 tie, 0) and
style features of both answers. The fit is a logistic regression

    P(A wins) = sigma(beta_{a} - beta_{b} + gamma . z_t)

where ``z_t`` holds, per feature, the normalized difference
``(f_A - f_B) / (f_A + f_B)`` (Arena's choice: a share, so one long answer
against another long one counts little), standardized over battles. ``gamma``
says how much the labelers reward the style itself (a positive length
coefficient is length bias); ``beta`` is the strength left once style is
accounted for. Fitted by Newton's method with a small ridge on beta (the same
virtual-tie prior the plain leaderboard uses, so undefeated models stay
finite) and none on gamma.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from annotation.quality.leaderboard import ARENA_BASE, ARENA_INITIAL, ARENA_SCALE

FEATURES = ("length", "markdown")

_MARKDOWN = re.compile(r"^\s{0,3}(#{1,6}\s|[-*+]\s|\d+[.)]\s|>\s|```)|\*\*[^*]+\*\*|`[^`]+`",
                       re.MULTILINE)


def style_features(text: str) -> dict[str, float]:
    """Length in characters and Markdown density: Markdown elements (headers,
    list items, quotes, fences, bold, inline code) per 100 characters."""
    length = len(text)
    elements = len(_MARKDOWN.findall(text))
    return {"length": float(length), "markdown": 100.0 * elements / max(length, 1)}


@dataclass(frozen=True)
class StyleFit:
    models: list
    ratings: np.ndarray  # per model, on the 400-point Arena scale
    coefficients: dict[str, float]  # per feature, log-odds per standard deviation
    n_battles: int


def _normalized_difference(fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
    total = fa + fb
    return np.divide(fa - fb, total, out=np.zeros_like(total), where=total > 0)


def style_controlled_fit(*, model_a: list, model_b: list, outcome: list,
                         features_a: np.ndarray, features_b: np.ndarray,
                         prior_games: float = 1.0, max_iter: int = 100) -> StyleFit:
    """Ratings controlled for style; ``features_*`` are (n_battles, n_features)."""
    models = sorted(set(model_a) | set(model_b))
    index = {m: i for i, m in enumerate(models)}
    n, m = len(outcome), len(models)
    fa = np.asarray(features_a, dtype=float).reshape(n, -1)
    fb = np.asarray(features_b, dtype=float).reshape(n, -1)
    k = fa.shape[1]
    if n == 0:
        return StyleFit(models, np.zeros(0), dict.fromkeys(FEATURES[:k], 0.0), 0)
    z = _normalized_difference(fa, fb)
    spread = z.std(axis=0)
    z = np.divide(z - z.mean(axis=0), spread, out=np.zeros_like(z), where=spread > 0)
    x = np.zeros((n, m + k))
    x[np.arange(n), [index[a] for a in model_a]] += 1.0
    x[np.arange(n), [index[b] for b in model_b]] -= 1.0
    x[:, m:] = z
    y = np.asarray(outcome, dtype=float)
    # Ridge on the strengths only: prior_games virtual ties against a 0-strength
    # reference contribute prior/4 curvature each (sigma' at 0 is 1/4).
    ridge = np.concatenate([np.full(m, prior_games / 4.0), np.zeros(k)])
    theta = np.zeros(m + k)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        gradient = x.T @ (y - p) - ridge * theta
        hessian = (x.T * (p * (1 - p))) @ x + np.diag(ridge) + 1e-9 * np.eye(m + k)
        step = np.linalg.solve(hessian, gradient)
        theta += step
        if float(np.abs(step).max()) < 1e-10:
            break
    beta = theta[:m] - theta[:m].mean()
    ratings = ARENA_INITIAL + ARENA_SCALE * beta / math.log(ARENA_BASE)
    return StyleFit(models, ratings, {name: float(theta[m + i]) for i, name in
                                      enumerate(FEATURES[:k])}, n)
