"""Conventions for pairwise preference labels (``Annotation.strength``).

``strength`` is in ``-2..2`` relative to the canonical order (A, B): negative
prefers A (-2: A much better), 0 is a tie, positive prefers B. Analysed as
ordinal data on the 5-point scale, or collapsed to three nominal classes
A / tie / B. ``display_order`` is the list of canonical positions in the
order shown: ``[0, 1]`` means A was shown first (left), ``[1, 0]`` B first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from annotation.quality._common import BoolArray, FloatArray

#: The 5-point scale, in order (pass as ``value_domain`` / ``labels``).
STRENGTH_SCALE: tuple[int, ...] = (-2, -1, 0, 1, 2)
#: Collapsed nominal classes.
PREFER_A = -1
TIE = 0
PREFER_B = 1
COLLAPSED_CLASSES: tuple[int, ...] = (PREFER_A, TIE, PREFER_B)


def _strengths(strength: npt.ArrayLike, *, allow_nan: bool) -> FloatArray:
    s = np.asarray(strength, dtype=np.float64)
    bad = np.isinf(s) | (np.abs(s) > 2)
    if not allow_nan:
        bad |= np.isnan(s)
    if bad.any():
        raise ValueError("strength must be within -2..2" + ("" if allow_nan else " (no missing values)"))
    return s


def collapse_strength(strength: npt.ArrayLike, *, tie_band: float = 0.0) -> FloatArray:
    """Collapse strengths to ``-1`` (A), ``0`` (tie), ``+1`` (B); NaN (missing) stays NaN.

    ``collapse(s) = sign(s)`` if ``|s| > tie_band`` else ``0``. With the
    default ``tie_band=0`` only an exact 0 is a tie; use ``tie_band=0.5`` to
    collapse a (weighted) mean strength, so that a mean between -0.5 and 0.5
    counts as a tie. Works element-wise on any shape, so a reliability matrix
    of strengths collapses in one call. Values outside -2..2 raise ValueError.
    """
    if tie_band < 0:
        raise ValueError("tie_band must be non-negative")
    s = _strengths(strength, allow_nan=True)
    with np.errstate(invalid="ignore"):
        out = np.where(np.abs(s) > tie_band, np.sign(s), 0.0)
    return np.where(np.isnan(s), np.nan, out)


def outcome_for_a(strength: npt.ArrayLike) -> FloatArray:
    """The score of response A: ``1.0`` if A is preferred, ``0.5`` for a tie, ``0.0`` if B.

    The outcome format of :func:`annotation.quality.leaderboard.bradley_terry`.
    """
    s = _strengths(strength, allow_nan=False)
    return 0.5 - 0.5 * np.sign(s)


def a_shown_first(display_orders: Sequence[Sequence[int]] | npt.ArrayLike) -> BoolArray:
    """``True`` where canonical A was shown first (left): ``display_order == [0, 1]``.

    Accepts a sequence of ``[0, 1]`` / ``[1, 0]`` lists (the JSON stored on
    ``Annotation.display_order``) or an (n × 2) array; anything else raises
    ValueError.
    """
    orders = np.asarray(display_orders)
    if orders.size == 0:
        return np.zeros(0, dtype=bool)
    if orders.ndim != 2 or orders.shape[1] != 2:
        raise ValueError("display orders must be pairs such as [0, 1] or [1, 0]")
    first_a = (orders[:, 0] == 0) & (orders[:, 1] == 1)
    first_b = (orders[:, 0] == 1) & (orders[:, 1] == 0)
    if not (first_a | first_b).all():
        raise ValueError("each display order must be [0, 1] or [1, 0]")
    return first_a
