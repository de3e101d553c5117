"""K-way ranking: K ≥ 3 responses, one rank each (1 is best, equal ranks are ties)."""

from itertools import combinations

import numpy as np

from annotation.datasets.pairs import ranking_pairs
from annotation.errors import Invalid
from annotation.models import ConsensusMethod, ItemResponse
from annotation.quality.agreement import krippendorff_alpha, reliability_matrix
from annotation.quality.ranking_consensus import consensus_rankings
from annotation.quality.ranking_reliability import ranking_reliability
from annotation.quality.reliability import gold_accuracy, length_bias, position_bias
from annotation.quality.report import ranking_quality_report
from annotation.task_types.base import (
    ConsensusRow,
    TaskMeasures,
    TaskTypeBase,
    item_lengths,
    name_labelers,
    seconds_of,
)


def ranking_clean(project, ranking) -> list[int]:
    """Ranks per canonical position, renumbered densely (1, 2, 2, 3)."""
    k = project.num_responses
    if not isinstance(ranking, list) or len(ranking) != k:
        raise Invalid(f"must list one rank for each of the {k} responses", field="ranking")
    if any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in ranking):
        raise Invalid("ranks must be positive integers (1 is best)", field="ranking")
    if not project.allow_ties and len(set(ranking)) != k:
        raise Invalid("this project does not allow ties", field="ranking")
    dense = {rank: i + 1 for i, rank in enumerate(sorted(set(ranking)))}
    return [dense[r] for r in ranking]


def ranking_weights(rows: list[tuple]) -> np.ndarray | None:
    """Per (item, labeler, ranking, display_order) row, its labeler's reliability
    weight (annotation.quality.ranking_reliability), fitted on these rows."""
    if not rows:
        return None
    fit = ranking_reliability(items=[r[0] for r in rows], labelers=[r[1] for r in rows],
                              rankings=[r[2] for r in rows], display_orders=[r[3] for r in rows])
    return fit.annotation_weight


def ranking_gold_correct(answer: list | None, gold: list) -> float:
    """1 when the answer orders every pair the gold orders the same way: the gold
    ranking may be partial (tied responses are left to the labeler)."""
    if not answer or len(answer) != len(gold):
        return 0.0
    return float(all((answer[i] < answer[j]) == (gold[i] < gold[j])
                     for i, j in combinations(range(len(gold)), 2) if gold[i] != gold[j]))


def _only(data: dict) -> None:
    for other in ("strength", "feedback"):
        if data.get(other) is not None:
            raise Invalid(f"ranking projects take a ranking, not a {other}", field=other)


def _snapshot_figures(rows, lengths) -> dict:
    """Alpha over ranks: each (item, response) is a unit, its rank an ordinal
    value. The biases decompose every ranking into its C(K, 2) pairs (which is
    how the snapshot uses it); pairs of one ranking are not independent, so
    their z-scores overstate the evidence — read the shares, not the z."""
    units, coders, ranks = [], [], []
    strengths, a_first, length_a, length_b = [], [], [], []
    for item_id, labeler_id, display_order, ranking in rows:
        k = len(ranking)
        shown = {position: index for index, position in enumerate(display_order)}
        for i in range(k):
            units.append(f"{item_id}:{i}")
            coders.append(labeler_id)
            ranks.append(ranking[i])
            for j in range(i + 1, k):
                strengths.append((ranking[i] > ranking[j]) - (ranking[i] < ranking[j]))
                a_first.append(shown[i] < shown[j])
                length_a.append(lengths[item_id][i])
                length_b.append(lengths[item_id][j])
    matrix = reliability_matrix(items=units, annotators=coders, values=ranks)
    return {
        "alpha_ordinal": krippendorff_alpha(reliability_data=matrix.data, level="ordinal"),
        "position_bias": position_bias(strengths=strengths,
                                       a_first=np.array(a_first, dtype=bool)).overall.as_dict(),
        "length_bias": length_bias(strengths=strengths, length_a=length_a,
                                   length_b=length_b).overall.as_dict(),
    }


class Ranking(TaskTypeBase):
    name = "ranking"
    label = "K-way ranking"
    judgement_field = "ranking"
    template = "frontend/task_types/ranking.html"
    shortcuts_template = "frontend/task_types/ranking_keys.html"
    js_module = "frontend/js/task_types/ranking.js"
    strategies = ("ranking",)
    strategy_hint = "a ranking project takes the ranking strategy"
    snapshot_rows_name = "pairs"
    head_to_head = False
    measures = TaskMeasures(
        consensus={
            ConsensusMethod.WEIGHTED_RANK: "Reliability-weighted mean rank",
            ConsensusMethod.MEAN: "Mean rank",
        },
        adjudication_measure="Kendall's W of the labelers who count",
        # Kendall's W, not the 0.6 vote share: on a simulated crowd (K = 4,
        # overlap 3, one random and one display-order ranker) W < 0.5 among the
        # reliable rankers flagged 5–8% of the items, whose weighted consensus
        # was far from the truth (tau-b 0.28–0.58 against 0.76–0.80 for the
        # rest), where the vote-share rule on all rankers flagged half.
        adjudicate_below={ConsensusMethod.WEIGHTED_RANK: 0.5, ConsensusMethod.MEAN: 0.5},
        reliability_measure="Kendall's τ-b with the leave-one-out (weighted) mean rank",
        alpha_titles={"alpha_ordinal": "Krippendorff's α on ranks (ordinal)"},
        trend_measure="Krippendorff's α on ranks (ordinal)",
        heatmap_key="tau_b",
        heatmap_measure="Mean Kendall's τ-b between the two annotators' rankings",
        summary_titles={"mean_kendall_w": "mean Kendall's W",
                        "mean_kendall_tau_b": "mean Kendall's tau-b"},
        confidence_name="Kendall's W",
        heatmap_low="opposite orders",
        percent_note=" (same rank)",
    )

    num_responses_range = (3, 16)

    def default_num_responses(self) -> int:
        return 4

    def num_responses_check(self, num_responses: int) -> None:
        if num_responses < 3:
            raise Invalid("ranking projects compare 3 or more responses", field="num_responses")

    # ----- labels -------------------------------------------------------------

    def judgement_clean(self, project, data: dict, *, both_bad: bool) -> dict:
        _only(data)
        return {"strength": None, "ranking": ranking_clean(project, data.get("ranking")),
                "feedback": None}

    def adjudication_clean(self, project, data: dict) -> dict:
        _only(data)
        return {"strength": None, "ranking": ranking_clean(project, data.get("ranking")),
                "feedback": None}

    def decision_from_form(self, post) -> dict:
        raw = post.get("ranking", "")
        if not raw.strip():
            raise Invalid("choose a decision: there is no default", field="ranking")
        try:
            return {"ranking": [int(part) for part in raw.replace(",", " ").split()]}
        except ValueError:
            raise Invalid("must be whole numbers", field="ranking") from None

    def label_from_ranks(self, ranks: list[int]) -> dict:
        dense = {r: n + 1 for n, r in enumerate(sorted(set(ranks)))}
        return {"strength": None, "ranking": [dense[r] for r in ranks]}

    def choice(self, row: dict) -> str | None:
        ranking = row["ranking"]
        return "first: " + chr(ord("A") + ranking.index(min(ranking))) if ranking else None

    def is_tie(self, row: dict) -> bool:
        ranking = row["ranking"]
        return bool(ranking) and len(set(ranking)) < len(ranking)

    # ----- gold ---------------------------------------------------------------

    def gold_answer_clean(self, project, answer) -> dict:
        """{"ranking": [...]}, possibly partial (ties left to the labeler)."""
        return {"ranking": ranking_clean(project, answer.get("ranking"))}

    def gold_answer_from_form(self, post) -> dict:
        try:
            return {"ranking": [int(p) for p in post.get("gold_ranking", "").split(",")]}
        except ValueError:
            raise Invalid("write one rank per response, separated by commas",
                          field="gold_answer") from None

    def gold_accuracy(self, rows: list[dict]):
        return gold_accuracy(
            labelers=[r["labeler_id"] for r in rows], expected_min=[1.0] * len(rows),
            answers=[ranking_gold_correct(r["ranking"], r["gold_answer"]["ranking"]) for r in rows])

    # ----- quality ------------------------------------------------------------

    def consensus_rows(self, project, method: str, labels) -> list[ConsensusRow]:
        rows = list(labels.filter(ranking__isnull=False).order_by("pk")
                    .values_list("item_id", "labeler_id", "ranking", "display_order"))
        if not rows:
            return []
        weights = ranking_weights(rows) if method == ConsensusMethod.WEIGHTED_RANK else None
        result = consensus_rankings(items=[r[0] for r in rows], labelers=[r[1] for r in rows],
                                    rankings=[r[2] for r in rows], weights=weights)
        out = []
        for k, item_id in enumerate(result.item_ids):
            w = result.kendall_w[k]
            # Kendall's W measures the concordance of the labelers who count;
            # undefined (fewer than two count, or all ties) falls back to the
            # (weighted) pair agreement share.
            confidence = result.agreement[k] if np.isnan(w) else w
            out.append(ConsensusRow(item_id=int(item_id), label=None, strength=None,
                                    ranking=result.ranking[k],
                                    agreement=round(float(result.agreement[k]), 6),
                                    confidence=round(float(confidence), 6),
                                    n_labels=int(result.n_votes[k])))
        return out

    def agreement_report(self, project, labels, *, n_resamples: int) -> dict:
        rows = list(labels.exclude(ranking=None).values_list(
            "item_id", "labeler_id", "ranking", "display_order", "time_on_task_ms"))
        if not rows:
            return {"n_annotations": 0}
        report = ranking_quality_report(
            items=[r[0] for r in rows], labelers=[r[1] for r in rows],
            rankings=[r[2] for r in rows], display_orders=[r[3] for r in rows],
            seconds=[seconds_of(r[4]) for r in rows], n_resamples=n_resamples)
        names = name_labelers(report, [r[1] for r in rows])
        report["tau_b"]["labelers"] = [names.get(i) for i in report["tau_b"]["labeler_ids"]]
        return report

    def health(self, project, labels, report: dict) -> dict:
        rankings = list(labels.filter(ranking__isnull=False).values_list("ranking", flat=True))
        return {"tie_share": (sum(1 for r in rankings if len(set(r)) < len(r)) / len(rankings)
                              if rankings else None),
                # Pairs of each ranking decided for the response shown earlier (0.5 expected).
                "position_bias": report.get("position_bias")}

    def trend_rows(self, project, labels) -> tuple[list[tuple], str, int]:
        # Each (item, response) a unit, as the headline figure.
        rows = [(f"{i}:{k}", la, rank, c) for i, la, r, c in labels.filter(
            ranking__isnull=False).values_list("item_id", "labeler_id", "ranking", "created_at")
            for k, rank in enumerate(r)]
        return rows, "ordinal", project.num_responses

    def battles(self, project, labels) -> tuple[list[str], list[str], list[float]]:
        model_a: list[str] = []
        model_b: list[str] = []
        outcome: list[float] = []
        names: dict[int, dict[int, str]] = {}
        for item_id, position, name in ItemResponse.objects.filter(
                item__project=project, item__is_gold=False).values_list(
                "item_id", "position", "response__model_name"):
            names.setdefault(item_id, {})[position] = name
        for item_id, ranking in labels.filter(ranking__isnull=False).values_list("item_id", "ranking"):
            slots = names.get(item_id, {})
            for i, j in combinations(range(len(ranking)), 2):
                a, b = slots.get(i), slots.get(j)
                if a and b and a != b:
                    model_a.append(a)
                    model_b.append(b)
                    outcome.append(1.0 if ranking[i] < ranking[j] else
                                   0.0 if ranking[i] > ranking[j] else 0.5)
        return model_a, model_b, outcome

    # ----- snapshots ----------------------------------------------------------

    def pair_outcomes(self, labels: list[tuple], method: str, *, ds_sides=None,
                      rank_weights=None) -> list:
        ranked = [row for row in labels if row[4]]
        return ranking_pairs([row[4] for row in ranked], None if rank_weights is None else
                             [rank_weights.get((row[0], row[5]), 0.0) for row in ranked])

    def adjudication_outcomes(self, adjudication) -> list:
        return ranking_pairs([adjudication.ranking])

    # ----- datasheets ---------------------------------------------------------

    datasheet_alphas = {"alpha_ordinal": "Krippendorff's alpha (ordinal, over ranks)"}
    datasheet_pairs_note = " (rankings read as their pairs)"

    def snapshot_quality(self, project, labels) -> dict:
        rows = [r for r in labels.order_by("pk").values_list(
            "item_id", "labeler_id", "display_order", "ranking").iterator(chunk_size=5000) if r[3]]
        if not rows:
            return {}
        return _snapshot_figures(rows, item_lengths({r[0] for r in rows}))
