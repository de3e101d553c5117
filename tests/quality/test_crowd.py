"""A simulated crowd with known accuracies and two spammers (random, always-left).

Plain arrays here; the database-backed version goes through the services.
"""

import numpy as np
import pytest
from scipy import stats

from annotation.quality import (
    consensus_dawid_skene,
    consensus_majority,
    consensus_weighted_mean,
    dawid_skene,
    labeler_speed,
    labeler_weights,
    leave_one_out_agreement,
    length_bias,
    position_bias,
)
from tests.quality.crowd import ALWAYS_LEFT, HONEST_ACCURACIES, RANDOM_SPAMMER

SPAMMERS = {RANDOM_SPAMMER, ALWAYS_LEFT}


@pytest.fixture(scope="module")
def fit(crowd):
    return dawid_skene(items=crowd.items, labelers=crowd.labelers, labels=crowd.collapsed)


def test_dawid_skene_converges(fit):
    assert fit.converged
    assert fit.posteriors.shape == (1500, 3)
    np.testing.assert_allclose(fit.posteriors.sum(axis=1), 1.0)


def test_dawid_skene_recovers_the_ordering_of_labeler_accuracy(crowd, fit):
    honest = [int(i) for i in fit.labeler_ids if i not in SPAMMERS]
    estimated = [fit.labeler_accuracy[list(fit.labeler_ids).index(i)] for i in honest]
    assert stats.spearmanr(estimated, [HONEST_ACCURACIES[i] for i in honest]).statistic == pytest.approx(1.0)
    # Every honest labeler is estimated above both spammers.
    spam = [fit.labeler_accuracy[list(fit.labeler_ids).index(i)] for i in SPAMMERS]
    assert min(estimated) > max(spam)


def test_dawid_skene_flags_both_spammers(fit):
    assert set(fit.spammers().tolist()) == SPAMMERS


def test_dawid_skene_consensus_beats_majority_vote(crowd, fit):
    def accuracy(consensus):
        return float((consensus.label == crowd.truth[consensus.item_ids]).mean())

    majority = accuracy(consensus_majority(items=crowd.items, labels=crowd.collapsed, tie_label=0))
    ds = accuracy(consensus_dawid_skene(result=fit))
    assert ds > majority + 0.05
    assert ds > 0.85


def test_reliability_weighted_mean_beats_the_plain_mean(crowd, fit):
    def accuracy(consensus):
        return float((consensus.label == crowd.truth[consensus.item_ids]).mean())

    plain = consensus_weighted_mean(items=crowd.items, strengths=crowd.strengths)
    weights = labeler_weights(
        labelers=crowd.labelers, labeler_ids=fit.labeler_ids, values=fit.labeler_informativeness
    )
    weighted = consensus_weighted_mean(items=crowd.items, strengths=crowd.strengths, weights=weights)
    assert accuracy(weighted) > accuracy(plain)


def test_leave_one_out_agreement_flags_both_spammers(crowd):
    loo = leave_one_out_agreement(items=crowd.items, labelers=crowd.labelers, labels=crowd.collapsed)
    assert set(loo.labeler_ids[loo.flagged].tolist()) == SPAMMERS
    honest = ~np.isin(loo.labeler_ids, list(SPAMMERS))
    assert (loo.kappa[honest] > 0.15).all()
    assert (np.abs(loo.kappa[~honest]) < 0.08).all()


def test_position_bias_flags_the_always_left_labeler_only(crowd):
    bias = position_bias(strengths=crowd.strengths, a_first=crowd.a_first, labelers=crowd.labelers)
    assert bias.labeler_ids[bias.flagged].tolist() == [ALWAYS_LEFT]
    left = list(bias.labeler_ids).index(ALWAYS_LEFT)
    assert bias.share[left] == 1.0
    assert bias.expected[left] == pytest.approx(0.5, abs=0.05)


def test_no_labeler_shows_a_length_bias_when_length_is_unrelated_to_quality(crowd):
    bias = length_bias(
        strengths=crowd.strengths, length_a=crowd.length_a, length_b=crowd.length_b, labelers=crowd.labelers
    )
    assert not bias.flagged.any()
    assert not bias.overall.flagged


def test_speed_flags_the_spammers(crowd):
    speed = labeler_speed(labelers=crowd.labelers, seconds=crowd.seconds)
    assert set(speed.labeler_ids[speed.flagged].tolist()) == SPAMMERS
