import math

import numpy as np
import pytest

from training.evaluation import expected_calibration_error, pairwise_metrics


def test_pairwise_metrics_on_hand_computed_pairs():
    chosen = np.array([2.0, 0.0, 1.0, 5.0])
    rejected = np.array([1.0, 1.0, 1.0, 0.0])
    is_tie = np.array([False, False, False, True])
    m = pairwise_metrics(chosen, rejected, is_tie=is_tie)
    # decided pairs: d = 1, -1, 0 → one strictly right
    assert m["pairs"] == 3 and m["ties"] == 1
    assert m["accuracy"] == pytest.approx(1 / 3)
    expected_loss = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1)) + math.log(2)) / 3
    assert m["loss"] == pytest.approx(expected_loss, abs=1e-12)
    assert m["margin"] == pytest.approx(0.0)
    assert m["tie_abs_diff"] == pytest.approx(5.0)


def test_ece_of_a_calibrated_and_an_overconfident_model():
    # p = 0.75 for 4 pairs, 3 right: confidence 0.75, accuracy 0.75 → ECE 0
    assert expected_calibration_error(np.array([0.75, 0.75, 0.75, 0.25])) == pytest.approx(0.0)
    # confidence 0.95 in every pair but right in half → |0.5 - 0.95| = 0.45
    assert expected_calibration_error(np.array([0.95, 0.05, 0.95, 0.05])) == pytest.approx(0.45)


def test_metrics_without_decided_pairs_are_none_not_nan():
    m = pairwise_metrics(np.array([1.0]), np.array([1.0]), is_tie=np.array([True]))
    assert m["accuracy"] is None and m["loss"] is None and m["ece"] is None
