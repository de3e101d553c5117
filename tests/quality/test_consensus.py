"""Per-item consensus and leave-one-out agreement on small hand-checked cases."""

import pytest

from annotation.quality import (
    consensus_majority,
    consensus_weighted_mean,
    labeler_weights,
    leave_one_out_agreement,
)


def test_majority_vote_with_agreement_share():
    result = consensus_majority(items=[1, 1, 1, 2, 2], labels=[1, 1, 0, -1, -1])
    assert result.item_ids.tolist() == [1, 2]
    assert result.label.tolist() == [1, -1]
    assert result.agreement == pytest.approx([2 / 3, 1.0])
    assert result.n_votes.tolist() == [3, 2]
    assert not result.tied.any()


def test_majority_split_becomes_the_tie_label():
    result = consensus_majority(items=[1, 1], labels=[-1, 1], tie_label=0)
    assert result.tied.tolist() == [True]
    assert result.label.tolist() == [0]
    assert result.agreement.tolist() == [0.0]  # nobody voted tie: adjudicate
    assert result.low_agreement().tolist() == [1]


def test_majority_split_without_tie_label_takes_the_smallest_label():
    result = consensus_majority(items=[1, 1], labels=[1, -1])
    assert result.label.tolist() == [-1] and result.tied.tolist() == [True]
    assert result.agreement.tolist() == [0.5]


def test_weighted_majority():
    result = consensus_majority(items=[1, 1, 1], labels=[1, 0, 0], weights=[3, 1, 1])
    assert result.label.tolist() == [1]
    assert result.agreement == pytest.approx([0.6])


def test_weighted_mean_of_strengths():
    result = consensus_weighted_mean(items=[5, 5, 5], strengths=[-2, -1, 2])
    assert result.score == pytest.approx([-1 / 3])
    assert result.label.tolist() == [0]  # |mean| <= 0.5 is a tie
    assert result.agreement.tolist() == [0.0]
    weighted = consensus_weighted_mean(items=[5, 5, 5], strengths=[-2, -1, 2], weights=[1, 1, 0])
    assert weighted.score == pytest.approx([-1.5]) and weighted.label.tolist() == [-1]
    assert weighted.agreement.tolist() == [1.0]


def test_consensus_of_nothing_is_empty():
    assert len(consensus_majority(items=[], labels=[]).item_ids) == 0
    assert len(consensus_weighted_mean(items=[], strengths=[]).item_ids) == 0


def test_labeler_weights_maps_labelers_to_values():
    out = labeler_weights(labelers=["b", "a", "z"], labeler_ids=["a", "b"], values=[0.9, 0.4], default=0.1)
    assert out.tolist() == [0.4, 0.9, 0.1]


def test_leave_one_out_credit_and_chance_correction():
    # Item 1: a=1, b=1, c=0. Item 2: a=0, b=0, c=0.
    loo = leave_one_out_agreement(
        items=[1, 1, 1, 2, 2, 2], labelers=list("abcabc"), labels=[1, 1, 0, 0, 0, 0]
    )
    # a on item 1: others b=1, c=0 -> tied modes {0, 1} -> credit 1/2; item 2 -> credit 1.
    a = list(loo.labeler_ids).index("a")
    assert loo.agreement[a] == pytest.approx(0.75)
    assert loo.n_items.tolist() == [2, 2, 2]
    # c on item 1: others both 1 -> credit 0; item 2 -> 1.
    assert loo.agreement[list(loo.labeler_ids).index("c")] == pytest.approx(0.5)


def test_leave_one_out_without_others_is_undefined():
    loo = leave_one_out_agreement(items=[1, 2], labelers=["a", "b"], labels=[0, 1])
    assert loo.n_items.tolist() == [0, 0]
    assert not loo.defined.any() and not loo.flagged.any()
    assert loo.as_dict()["kappa"] == [None, None]
