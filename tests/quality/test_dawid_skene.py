"""Dawid–Skene EM: small exact cases and degenerate inputs."""

import numpy as np
import pytest

from annotation.quality import consensus_dawid_skene, dawid_skene


def test_unanimous_labels_give_confident_posteriors():
    fit = dawid_skene(items=[1, 1, 2, 2], labelers=["a", "b", "a", "b"], labels=[0, 0, 1, 1])
    assert fit.labels.tolist() == [0, 1]
    assert (fit.confidence > 0.95).all()
    assert fit.labeler_accuracy == pytest.approx([1.0, 1.0], abs=0.05)


def test_result_is_deterministic():
    rng = np.random.default_rng(0)
    items, labelers, labels = rng.integers(0, 50, 300), rng.integers(0, 6, 300), rng.integers(0, 3, 300)
    first = dawid_skene(items=items, labelers=labelers, labels=labels)
    second = dawid_skene(items=items, labelers=labelers, labels=labels)
    np.testing.assert_array_equal(first.posteriors, second.posteriors)


def test_ids_and_classes_may_be_strings():
    fit = dawid_skene(items=["x", "y", "x"], labelers=["p", "p", "q"], labels=["A", "B", "A"])
    assert fit.item_ids.tolist() == ["x", "y"]
    assert fit.classes.tolist() == ["A", "B"]
    assert fit.labels.tolist() == ["A", "B"]


def test_classes_fix_the_label_set_and_order():
    fit = dawid_skene(items=[1, 2], labelers=[1, 1], labels=[1, 1], classes=[-1, 0, 1])
    assert fit.classes.tolist() == [-1, 0, 1]
    assert fit.confusion.shape == (1, 3, 3)
    with pytest.raises(ValueError, match="outside"):
        dawid_skene(items=[1], labelers=[1], labels=[5], classes=[-1, 0, 1])


def test_em_never_decreases_the_map_objective():
    rng = np.random.default_rng(1)
    items, labelers, labels = rng.integers(0, 80, 500), rng.integers(0, 5, 500), rng.integers(0, 3, 500)
    values = [dawid_skene(items=items, labelers=labelers, labels=labels, max_iter=k).objective
              for k in (1, 2, 3, 5, 10, 20, 50)]
    assert all(later >= earlier - 1e-6 for earlier, later in zip(values, values[1:], strict=False))


def test_empty_input_gives_an_empty_result():
    fit = dawid_skene(items=[], labelers=[], labels=[])
    assert fit.posteriors.shape == (0, 0) and fit.converged
    assert len(consensus_dawid_skene(result=fit).item_ids) == 0


def test_a_single_labeler_is_followed():
    fit = dawid_skene(items=[1, 2, 3], labelers=[9, 9, 9], labels=[0, 1, 1])
    assert fit.labels.tolist() == [0, 1, 1]


def test_a_single_class_is_certain():
    fit = dawid_skene(items=[1, 2], labelers=[1, 2], labels=[4, 4])
    assert fit.posteriors.tolist() == [[1.0], [1.0]]
    assert fit.labeler_informativeness.tolist() == [0.0, 0.0]


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="smoothing"):
        dawid_skene(items=[1], labelers=[1], labels=[1], smoothing=0)
    with pytest.raises(ValueError, match="same length"):
        dawid_skene(items=[1, 2], labelers=[1], labels=[1])
    with pytest.raises(ValueError, match="NaN"):
        dawid_skene(items=[1], labelers=[1], labels=[np.nan])
