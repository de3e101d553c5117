"""Ranking labelers' reliability, the weighted consensus, and the dataset-level position bias."""

import numpy as np
import pytest

from annotation.quality import (
    consensus_rankings,
    kendall_tau_b,
    leave_one_out_tau_b,
    pairwise_quality_report,
    position_bias,
    ranking_quality_report,
    ranking_reliability,
)
from tests.quality.ranking_crowd import IN_DISPLAY_ORDER, SHUFFLER, simulate_ranking_crowd


@pytest.fixture(scope="module")
def ranking_crowd():
    return simulate_ranking_crowd()


def _mean_tau_to_truth(crowd, result) -> float:
    return float(np.mean([kendall_tau_b(x=crowd.truth[i], y=result.ranking[k])
                          for k, i in enumerate(result.item_ids)]))


def test_leave_one_out_tau_b_compares_with_the_mean_rank_of_the_others():
    items = [1, 1, 1]
    rankings = [[1, 2, 3], [1, 3, 2], [3, 2, 1]]
    tau = leave_one_out_tau_b(items=items, rankings=rankings)
    # Others of the first: mean of [1, 3, 2] and [3, 2, 1] = [2, 2.5, 1.5].
    assert tau[0] == pytest.approx(kendall_tau_b(x=[1, 2, 3], y=[2, 2.5, 1.5]))
    # A zero weight removes the third from everyone else's consensus.
    weighted = leave_one_out_tau_b(items=items, rankings=rankings, weights=[1, 1, 0])
    assert weighted[0] == pytest.approx(kendall_tau_b(x=[1, 2, 3], y=[1, 3, 2]))
    assert np.isnan(leave_one_out_tau_b(items=[1], rankings=[[1, 2, 3]])[0])  # nobody else


def test_the_display_order_ranker_and_the_shuffler_are_told_apart(ranking_crowd):
    c = ranking_crowd
    fit = ranking_reliability(items=c.items, labelers=c.labelers, rankings=list(c.rankings),
                              display_orders=list(c.display_orders))
    ids = fit.labeler_ids.tolist()
    shuffler, in_order = ids.index(SHUFFLER), ids.index(IN_DISPLAY_ORDER)
    assert fit.first_share[in_order] == 1.0 and fit.position_flagged.tolist() == [
        i == in_order for i in range(len(ids))]
    assert fit.random_flagged.tolist() == [i == shuffler for i in range(len(ids))]
    assert abs(fit.first_share[shuffler] - 0.5) < 0.1 and abs(fit.first_z[shuffler]) < 3
    careful = [i for i in range(len(ids)) if i not in (shuffler, in_order)]
    assert fit.weight[shuffler] == fit.weight[in_order] == 0
    assert (fit.weight[careful] > 0.3).all() and (fit.loo_tau_b[careful] > 0.3).all()
    assert fit.position.flagged and fit.position_drivers.tolist() == [IN_DISPLAY_ORDER]


def test_the_position_z_uses_the_null_variance_of_a_ranking_share():
    # Under a uniformly random display order the per-ranking share has mean 0.5
    # and variance (2K + 5) / (18 K (K - 1)); check it by simulation.
    rng = np.random.default_rng(3)
    k, n = 4, 20000
    orders = [rng.permutation(k) for _ in range(n)]
    rankings = [[1, 2, 3, 4]] * n
    fit = ranking_reliability(items=np.arange(n), labelers=np.zeros(n, dtype=int), rankings=rankings,
                              display_orders=orders)
    assert abs(fit.first_z[0]) < 3.5
    shares = [np.mean([o.tolist().index(i) < o.tolist().index(j)
                       for i in range(k) for j in range(i + 1, k)]) for o in orders[:4000]]
    assert np.var(shares) == pytest.approx((2 * k + 5) / (18 * k * (k - 1)), rel=0.1)


def test_weighted_consensus_beats_the_mean_rank(ranking_crowd):
    c = ranking_crowd
    fit = ranking_reliability(items=c.items, labelers=c.labelers, rankings=list(c.rankings),
                              display_orders=list(c.display_orders))
    plain = consensus_rankings(items=c.items, labelers=c.labelers, rankings=list(c.rankings))
    weighted = consensus_rankings(items=c.items, labelers=c.labelers, rankings=list(c.rankings),
                                  weights=fit.annotation_weight)
    careful = c.labelers < SHUFFLER
    only_careful = consensus_rankings(items=c.items[careful], labelers=c.labelers[careful],
                                      rankings=list(c.rankings[careful]))
    assert _mean_tau_to_truth(c, weighted) > _mean_tau_to_truth(c, plain) + 0.08
    # Close to what leaving the two bad rankers out by hand would give.
    assert _mean_tau_to_truth(c, weighted) > _mean_tau_to_truth(c, only_careful) - 0.03


def test_zero_weights_are_ignored_and_all_zero_falls_back_to_the_mean():
    items, labelers = [1, 1, 1], [1, 2, 3]
    rankings = [[1, 2, 3], [1, 2, 3], [3, 2, 1]]
    weighted = consensus_rankings(items=items, labelers=labelers, rankings=rankings, weights=[1, 1, 0])
    assert weighted.ranking == [[1, 2, 3]] and weighted.agreement[0] == 1.0
    assert weighted.kendall_w[0] == pytest.approx(1.0)  # the two who count agree
    fallback = consensus_rankings(items=items, labelers=labelers, rankings=rankings, weights=[0, 0, 0])
    plain = consensus_rankings(items=items, labelers=labelers, rankings=rankings)
    assert fallback.ranking == plain.ranking
    with pytest.raises(ValueError):
        consensus_rankings(items=items, labelers=labelers, rankings=rankings, weights=[1, -1, 0])


def test_ranking_report_has_alpha_on_ranks_with_an_interval_over_items(ranking_crowd):
    c = ranking_crowd
    report = ranking_quality_report(items=c.items, labelers=c.labelers, rankings=list(c.rankings),
                                    display_orders=list(c.display_orders), seconds=c.seconds,
                                    n_resamples=100)
    alpha = report["alpha_ordinal"]
    assert alpha["low"] < alpha["estimate"] < alpha["high"]
    rows = {r["id"]: r for r in report["labelers"]}
    assert rows[SHUFFLER]["flags"] == ["spammer"] and rows[IN_DISPLAY_ORDER]["flags"] == ["position_bias"]
    assert report["position_bias"]["drivers"] == [IN_DISPLAY_ORDER]


def _one_labeler_always_first():
    """Four labelers with no position bias (600 decisions each) and one who always
    picks the response shown first (582): overall 0.5976 against 0.5."""
    labelers, strengths, a_first = [], [], []
    for who, n in ((1, 600), (2, 600), (3, 600), (4, 600), (9, 582)):
        shown_a = np.arange(n) % 2 == 0
        labelers += [who] * n
        a_first += shown_a.tolist()
        strengths += ([-1.0] * n) if who != 9 else np.where(shown_a, -1.0, 1.0).tolist()
    return np.array(labelers), np.array(strengths), np.array(a_first)


def test_a_dataset_position_bias_under_0_1_is_flagged_with_its_driver():
    labelers, strengths, a_first = _one_labeler_always_first()
    bias = position_bias(strengths=strengths, a_first=a_first, labelers=labelers)
    assert bias.overall.difference == pytest.approx(0.0976, abs=1e-3) and bias.overall.z > 7
    assert bias.overall.flagged
    assert bias.drivers().tolist() == [9]
    report = pairwise_quality_report(items=np.arange(len(labelers)), labelers=labelers,
                                     strengths=strengths, a_first=a_first, n_resamples=10)
    assert report["position_bias"]["flagged"] and report["position_bias"]["drivers"] == [9]
