"""Position bias, length bias and speed on hand-built cases."""

import numpy as np
import pytest

from annotation.quality import labeler_speed, length_bias, position_bias


def test_position_bias_is_measured_against_the_canonical_order():
    # A always shown first and the labeler always prefers A: no evidence of position bias.
    result = position_bias(strengths=[-1] * 50, a_first=np.ones(50, dtype=bool), labelers=[1] * 50)
    assert result.share.tolist() == [1.0]
    assert result.expected.tolist() == [1.0]
    assert result.difference.tolist() == [0.0]
    assert not result.flagged.any()


def test_position_bias_flags_a_left_clicker_under_random_display():
    rng = np.random.default_rng(0)
    first = rng.random(200) < 0.5
    strengths = np.where(first, -2.0, 2.0)  # always the response shown first
    result = position_bias(strengths=strengths, a_first=first, labelers=np.zeros(200))
    assert result.flagged.tolist() == [True]
    assert result.overall.flagged


def test_position_bias_ignores_ties_and_missing_strengths():
    result = position_bias(strengths=[0, np.nan, -1], a_first=np.array([True, True, True]))
    assert result.overall.n == 1


def test_position_bias_of_nothing():
    result = position_bias(strengths=[], a_first=np.zeros(0, dtype=bool), labelers=[])
    assert result.overall.share is None and result.overall.z is None and not result.overall.flagged


def test_position_bias_requires_boolean_display_flags():
    with pytest.raises(ValueError, match="boolean"):
        position_bias(strengths=[1], a_first=[1])


def test_length_bias_flags_a_labeler_who_always_picks_the_longer_response():
    rng = np.random.default_rng(1)
    n = 300
    length_a, length_b = rng.integers(100, 900, n), rng.integers(100, 900, n)
    lover = np.where(length_a > length_b, -1.0, 1.0)
    honest = rng.choice([-1.0, 1.0], n)
    result = length_bias(
        strengths=np.concatenate([lover, honest]),
        length_a=np.concatenate([length_a, length_a]),
        length_b=np.concatenate([length_b, length_b]),
        labelers=["lover"] * n + ["honest"] * n,
    )
    flags = dict(zip(result.labeler_ids.tolist(), result.flagged.tolist(), strict=True))
    assert flags == {"honest": False, "lover": True}


def test_length_bias_skips_equal_lengths():
    result = length_bias(strengths=[-1, -1], length_a=[5, 9], length_b=[5, 3])
    assert result.overall.n == 1 and result.overall.share == 1.0


def test_speed_threshold_is_relative_and_absolute():
    labelers = ["slow"] * 10 + ["typical"] * 10 + ["fast"] * 10 + ["new"] * 2
    seconds = [40.0] * 10 + [20.0] * 10 + [3.0] * 10 + [0.5] * 2
    result = labeler_speed(labelers=labelers, seconds=seconds)
    assert result.threshold_seconds == pytest.approx(0.25 * 20.0)
    flags = dict(zip(result.labeler_ids.tolist(), result.flagged.tolist(), strict=True))
    assert flags == {"fast": True, "new": False, "slow": False, "typical": False}


def test_speed_median_ignores_untimed_items():
    result = labeler_speed(labelers=[1, 1, 1, 1], seconds=[1.0, 3.0, np.nan, 100.0], min_items=1)
    assert result.median_seconds.tolist() == [3.0]


def test_speed_of_nothing():
    result = labeler_speed(labelers=[], seconds=[])
    assert result.threshold_seconds is None and len(result.flagged) == 0
