"""Agreement over time and the ranking consensus (framework-free)."""

import numpy as np
import pytest

from annotation.quality import agreement_over_time, consensus_rankings, krippendorff_alpha


def test_each_item_counts_in_the_period_of_its_last_label():
    periods = agreement_over_time(
        items=[1, 1, 2, 2, 3, 3], labelers=["a", "b", "a", "b", "a", "b"],
        labels=[1, 1, 1, -1, 0, 0], periods=["d1", "d2", "d1", "d1", "d2", "d2"])
    assert [p.period for p in periods] == ["d1", "d2"]
    first, second = periods
    assert (first.n_items, first.n_annotations, first.percent) == (1, 2, 0.0)
    assert first.alpha == krippendorff_alpha(reliability_data=[[1], [-1]], level="nominal")
    assert (second.n_items, second.n_annotations, second.percent) == (2, 4, 1.0)
    assert second.alpha == pytest.approx(krippendorff_alpha(
        reliability_data=[[1, 0], [1, 0]], level="nominal"))


def test_a_period_matches_alpha_on_its_items_alone():
    rng = np.random.default_rng(3)
    items = np.repeat(np.arange(40), 3)
    labelers = np.tile([0, 1, 2], 40)
    labels = rng.integers(-1, 2, len(items))
    week = np.where(items < 25, "2026-W01", "2026-W02")
    periods = agreement_over_time(items=items, labelers=labelers, labels=labels, periods=week)
    late = items >= 25
    expected = krippendorff_alpha(reliability_data=labels[late].reshape(15, 3).T.astype(float))
    assert periods[1].alpha == pytest.approx(expected, abs=1e-12)
    assert [p.n_items for p in periods] == [25, 15]


def test_empty_and_malformed_input():
    assert agreement_over_time(items=[], labelers=[], labels=[], periods=[]) == []
    with pytest.raises(ValueError, match="same length"):
        agreement_over_time(items=[1, 2], labelers=["a"], labels=[1, 1], periods=[1, 1])
    with pytest.raises(ValueError, match="finite"):
        agreement_over_time(items=[1], labelers=["a"], labels=[np.nan], periods=[1])


def test_ranking_consensus_by_mean_rank_with_agreement_and_w():
    result = consensus_rankings(
        items=[7, 7, 7, 9, 9], labelers=["a", "b", "c", "a", "b"],
        rankings=[[1, 2, 3], [1, 3, 2], [1, 2, 3], [1, 2], [2, 1]])
    assert result.item_ids.tolist() == [7, 9]
    assert result.ranking == [[1, 2, 3], [1, 1]]
    # Item 7: pairs (0,1) and (0,2) agree for all three; (1,2) for two of three.
    assert result.agreement[0] == pytest.approx(8 / 9)
    assert result.agreement[1] == 0.0  # both disagree with the tie of the means
    assert result.kendall_w[0] == pytest.approx(7 / 9)
    assert result.n_votes.tolist() == [3, 2]
