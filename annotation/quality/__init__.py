"""Label quality: agreement, reliability, consensus and model leaderboards — numbers only.

Framework-free (numpy only; no Django import anywhere in this package), so it
is tested and benchmarked alone and called by the services with arrays
loaded from the database.

Modules, each named for its job:

* :mod:`.agreement` — Krippendorff's alpha (nominal / ordinal / interval),
  Fleiss' kappa, Cohen's kappa for every annotator pair, percent agreement,
  and :func:`reliability_matrix` to pivot database rows.
* :mod:`.rankings` — Kendall's tau-b and Kendall's W for ranking tasks.
* :mod:`.bootstrap` — percentile bootstrap intervals over items.
* :mod:`.pairwise` — the -2..2 strength scale, its A/tie/B collapse, display order.
* :mod:`.dawid_skene` — labelers' confusion matrices and items' posteriors by EM.
* :mod:`.consensus` — per-item consensus (majority, weighted mean, Dawid–Skene)
  and leave-one-out agreement of each labeler with the others.
* :mod:`.reliability` — gold accuracy, position bias, length bias, implausible speed.
* :mod:`.leaderboard` — Bradley–Terry model ratings with bootstrap intervals.
* :mod:`.ranking_consensus` — per-item consensus of rankings by (weighted) mean rank.
* :mod:`.ranking_reliability` — ranking labelers' leave-one-out tau-b, position
  bias, random-ranker flag and consensus weights.
* :mod:`.trend` — agreement of the items finished in each period.
* :mod:`.report` — optional: all of a pairwise or ranking project's figures in one JSON-ready dict.

Conventions shared by every function:

* Arguments are keyword-only (the one-array helpers ``collapse_strength``,
  ``outcome_for_a``, ``a_shown_first`` and ``average_ranks`` also take it
  positionally); arrays are anything ``numpy.asarray`` accepts.
* A reliability matrix is (annotators × items) with NaN for a missing value.
  Long-format inputs are parallel 1-D arrays, one entry per annotation, with
  ids of any integer or string type; results carry the sorted distinct ids.
* Undefined is never NaN silently: a scalar statistic that is undefined for
  the data (no item with two values, no variation, one annotator, nothing at
  all) is ``None``; malformed input (wrong shape, mismatched lengths, values
  outside the declared scale, infinities) raises ``ValueError``. Array results
  that can hold undefined cells use NaN there *and* carry a boolean mask
  naming them; their ``as_dict()`` turns NaN into ``None`` for JSON.
* Randomness (bootstrap) is seeded by a ``seed`` argument; same call, same answer.
"""

from annotation.quality.agreement import (
    PairwiseAgreement,
    ReliabilityMatrix,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_agreement,
    percent_agreement,
    reliability_matrix,
    value_counts,
)
from annotation.quality.bootstrap import (
    ConfidenceInterval,
    bootstrap_ci,
    krippendorff_alpha_ci,
    reliability_bootstrap_ci,
)
from annotation.quality.consensus import (
    Consensus,
    LeaveOneOut,
    consensus_dawid_skene,
    consensus_majority,
    consensus_weighted_mean,
    labeler_weights,
    leave_one_out_agreement,
)
from annotation.quality.dawid_skene import DawidSkeneResult, dawid_skene
from annotation.quality.leaderboard import (
    BradleyTerryFit,
    Leaderboard,
    LeaderboardRow,
    bradley_terry,
    leaderboard,
)
from annotation.quality.pairwise import (
    COLLAPSED_CLASSES,
    PREFER_A,
    PREFER_B,
    STRENGTH_SCALE,
    TIE,
    a_shown_first,
    collapse_strength,
    outcome_for_a,
)
from annotation.quality.ranking_consensus import RankingConsensus, consensus_rankings
from annotation.quality.ranking_reliability import (
    RankingReliability,
    leave_one_out_tau_b,
    ranking_reliability,
)
from annotation.quality.rankings import (
    RankingAgreement,
    average_ranks,
    kendall_tau_b,
    kendall_w,
    ranking_agreement,
)
from annotation.quality.reliability import (
    GoldAccuracy,
    ShareSummary,
    ShareTest,
    SpeedReport,
    gold_accuracy,
    labeler_speed,
    length_bias,
    position_bias,
)
from annotation.quality.report import pairwise_quality_report, rank_alpha, ranking_quality_report
from annotation.quality.trend import AgreementPeriod, agreement_over_time

__all__ = [
    "COLLAPSED_CLASSES",
    "PREFER_A",
    "PREFER_B",
    "STRENGTH_SCALE",
    "TIE",
    "AgreementPeriod",
    "BradleyTerryFit",
    "ConfidenceInterval",
    "Consensus",
    "DawidSkeneResult",
    "GoldAccuracy",
    "Leaderboard",
    "LeaderboardRow",
    "LeaveOneOut",
    "PairwiseAgreement",
    "RankingAgreement",
    "RankingConsensus",
    "RankingReliability",
    "ReliabilityMatrix",
    "ShareSummary",
    "ShareTest",
    "SpeedReport",
    "a_shown_first",
    "agreement_over_time",
    "average_ranks",
    "bootstrap_ci",
    "bradley_terry",
    "cohen_kappa",
    "collapse_strength",
    "consensus_dawid_skene",
    "consensus_majority",
    "consensus_rankings",
    "consensus_weighted_mean",
    "dawid_skene",
    "fleiss_kappa",
    "gold_accuracy",
    "kendall_tau_b",
    "kendall_w",
    "krippendorff_alpha",
    "krippendorff_alpha_ci",
    "labeler_speed",
    "labeler_weights",
    "leaderboard",
    "leave_one_out_agreement",
    "leave_one_out_tau_b",
    "length_bias",
    "outcome_for_a",
    "pairwise_quality_report",
    "pairwise_agreement",
    "percent_agreement",
    "position_bias",
    "rank_alpha",
    "ranking_agreement",
    "ranking_quality_report",
    "ranking_reliability",
    "reliability_bootstrap_ci",
    "reliability_matrix",
    "value_counts",
]
