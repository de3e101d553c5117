"""The -2..2 strength scale and its helpers."""

import numpy as np
import pytest

from annotation.quality import a_shown_first, collapse_strength, outcome_for_a

nan = np.nan


def test_collapse_maps_strengths_to_a_tie_b():
    np.testing.assert_array_equal(collapse_strength([-2, -1, 0, 1, 2, nan]), [-1, -1, 0, 1, 1, nan])


def test_collapse_with_a_tie_band_rounds_means():
    np.testing.assert_array_equal(collapse_strength([-0.6, -0.5, 0.4, 0.51], tie_band=0.5), [-1, 0, 0, 1])


def test_collapse_works_on_a_reliability_matrix():
    assert collapse_strength([[2, nan], [-1, 0]]).shape == (2, 2)


def test_collapse_rejects_values_off_the_scale():
    with pytest.raises(ValueError, match="-2..2"):
        collapse_strength([3])


def test_outcome_for_a_scores_a():
    np.testing.assert_array_equal(outcome_for_a([-2, -1, 0, 1, 2]), [1, 1, 0.5, 0, 0])


def test_outcome_for_a_rejects_missing_strengths():
    with pytest.raises(ValueError):
        outcome_for_a([nan])


def test_a_shown_first_reads_display_orders():
    np.testing.assert_array_equal(a_shown_first([[0, 1], [1, 0]]), [True, False])
    assert a_shown_first([]).shape == (0,)


def test_a_shown_first_rejects_other_orders():
    with pytest.raises(ValueError):
        a_shown_first([[0, 0]])
    with pytest.raises(ValueError):
        a_shown_first([[0, 1, 2]])
