"""Pairwise comparison: two responses, a 5-point strength from −2 (A ≫ B) to 2 (B ≫ A)."""

import math

import numpy as np
from django.db.models import CharField, IntegerField, OuterRef, Subquery
from django.db.models.functions import Length

from annotation.datasets.pairs import pairwise_consensus, pairwise_from_side
from annotation.errors import Invalid
from annotation.models import ConsensusMethod, ItemResponse
from annotation.quality.agreement import krippendorff_alpha, reliability_matrix
from annotation.quality.consensus import (
    consensus_dawid_skene,
    consensus_majority,
    consensus_weighted_mean,
)
from annotation.quality.dawid_skene import dawid_skene
from annotation.quality.pairwise import COLLAPSED_CLASSES, STRENGTH_SCALE, collapse_strength, outcome_for_a
from annotation.quality.reliability import gold_accuracy, length_bias, position_bias
from annotation.quality.report import pairwise_quality_report
from annotation.task_types.base import (
    ConsensusRow,
    TaskMeasures,
    TaskTypeBase,
    item_lengths,
    name_labelers,
    seconds_of,
)

SIDES = np.array([-1, 0, 1])


def strength_clean(project, strength, both_bad: bool) -> int | None:
    if strength is None:
        if not both_bad:
            raise Invalid("a preference strength is required unless both are bad", field="strength")
        return None
    if isinstance(strength, bool) or not isinstance(strength, int) or not -2 <= strength <= 2:
        raise Invalid("must be an integer from -2 (A much better) to 2 (B much better)",
                      field="strength")
    if strength == 0 and not project.allow_ties:
        raise Invalid("this project does not allow ties", field="strength")
    return strength


def _only(data: dict, field: str) -> None:
    for other in ("ranking", "feedback"):
        if data.get(other) is not None:
            raise Invalid(f"pairwise projects take a strength, not a {other}", field=other)


def _length(position: int):
    texts = ItemResponse.objects.filter(item=OuterRef("item_id"), position=position)
    return Subquery(texts.annotate(n=Length("response__text")).values("n")[:1],
                    output_field=IntegerField())


def _model(position: int):
    names = ItemResponse.objects.filter(item=OuterRef("item_id"), position=position)
    return Subquery(names.values("response__model_name")[:1], output_field=CharField())


def _snapshot_figures(rows, lengths) -> dict:
    items = [r[0] for r in rows]
    labelers = [r[1] for r in rows]
    strengths = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
    a_first = np.array([r[3][0] == 0 for r in rows], dtype=bool)
    decided = ~np.isnan(strengths)
    if not decided.any():  # only "both bad" labels: nothing to agree on
        return {"alpha_ordinal": None, "alpha_nominal": None, "position_bias": None,
                "length_bias": None}
    matrix = reliability_matrix(items=np.array(items)[decided], annotators=np.array(labelers)[decided],
                                values=strengths[decided])
    return {
        "alpha_ordinal": krippendorff_alpha(reliability_data=matrix.data, level="ordinal",
                                            value_domain=STRENGTH_SCALE),
        "alpha_nominal": krippendorff_alpha(reliability_data=collapse_strength(matrix.data),
                                            level="nominal", value_domain=COLLAPSED_CLASSES),
        "position_bias": position_bias(strengths=strengths, a_first=a_first).overall.as_dict(),
        "length_bias": length_bias(strengths=strengths,
                                   length_a=[lengths[r[0]][0] for r in rows],
                                   length_b=[lengths[r[0]][1] for r in rows]).overall.as_dict(),
    }


class Pairwise(TaskTypeBase):
    name = "pairwise"
    label = "Pairwise comparison"
    judgement_field = "strength"
    template = "frontend/task_types/pairwise.html"
    shortcuts_template = "frontend/task_types/pairwise_keys.html"
    js_module = "frontend/js/task_types/pairwise.js"
    strategies = ("all_pairs", "cross_model", "random_pairs", "best_of_n")
    strategy_hint = "a pairwise project takes a pair strategy"
    no_choice = "no preference"
    snapshot_rows_name = "pairs"
    head_to_head = True
    measures = TaskMeasures(
        consensus={
            ConsensusMethod.DAWID_SKENE: "Dawid–Skene posterior",
            ConsensusMethod.MAJORITY: "Majority vote (A / tie / B)",
            ConsensusMethod.MEAN: "Mean strength",
        },
        adjudication_measure="support of the consensus label (vote share, or Dawid–Skene posterior)",
        # Majority and mean measure support as the share of votes on the consensus
        # side; Dawid–Skene as the posterior of its label, which is overconfident
        # with few labels per item (on a simulated crowd, posteriors below 0.6
        # caught only a third of the items whose two reliable labelers
        # disagreed), hence its higher bar.
        adjudicate_below={ConsensusMethod.MAJORITY: 0.6, ConsensusMethod.MEAN: 0.6,
                          ConsensusMethod.DAWID_SKENE: 0.8},
        reliability_measure="share agreeing with the leave-one-out consensus (A / tie / B)",
        alpha_titles={"alpha_ordinal": "Krippendorff's α, 5-point strength (ordinal)",
                      "alpha_nominal": "Krippendorff's α, A / tie / B (nominal)"},
        trend_measure="Krippendorff's α (A / tie / B, nominal)",
        heatmap_key="kappa",
        heatmap_measure="Cohen's kappa on A / tie / B",
        summary_titles={"percent_agreement": "percent agreement"},
        percent_note="",
    )

    num_responses_range = (2, 2)

    def default_num_responses(self) -> int:
        return 2

    def num_responses_check(self, num_responses: int) -> None:
        if num_responses != 2:
            raise Invalid("pairwise projects compare exactly 2 responses", field="num_responses")

    def default_strategy(self, *, n_models: int) -> str:
        return "cross_model" if n_models > 1 else "all_pairs"

    # ----- labels -------------------------------------------------------------

    def judgement_clean(self, project, data: dict, *, both_bad: bool) -> dict:
        _only(data, "strength")
        return {"strength": strength_clean(project, data.get("strength"), both_bad),
                "ranking": None, "feedback": None}

    def adjudication_clean(self, project, data: dict) -> dict:
        _only(data, "strength")
        return {"strength": strength_clean(project, data.get("strength"), False),
                "ranking": None, "feedback": None}

    def decision_from_form(self, post) -> dict:
        raw = post.get("strength", "")
        if not raw.strip():
            raise Invalid("choose a decision: there is no default", field="strength")
        try:
            return {"strength": int(raw)}
        except ValueError:
            raise Invalid("must be whole numbers", field="strength") from None

    def label_from_ranks(self, ranks: list[int]) -> dict:
        a, b = ranks
        return {"strength": (a > b) - (a < b), "ranking": None}

    def reduce_ranks(self, ranks: list[int]) -> tuple[list[int], list[int]] | None:
        # Scored data into a pairwise project: the best against the worst.
        if len(ranks) <= 2:
            return None
        best = ranks.index(min(ranks))
        worst = ranks.index(max(ranks))
        if best == worst:
            worst = 1 if best == 0 else 0
        return [best, worst], [1, 1] if ranks[best] == ranks[worst] else [1, 2]

    def choice(self, row: dict) -> str | None:
        strength = row["strength"]
        if strength is None:
            return None
        return ("A", "tie", "B")[(strength > 0) - (strength < 0) + 1]

    def is_tie(self, row: dict) -> bool:
        return row["strength"] == 0

    # ----- gold ---------------------------------------------------------------

    def gold_answer_clean(self, project, answer) -> dict:
        """{"min": a, "max": b} (or {"strength": v})."""
        if "strength" in answer:
            answer = {"min": answer["strength"], "max": answer["strength"]}
        low, high = answer.get("min"), answer.get("max")
        for bound in (low, high):
            if isinstance(bound, bool) or not isinstance(bound, int) or not -2 <= bound <= 2:
                raise Invalid("min and max must be integers from -2 to 2", field="gold_answer")
        if low > high:
            raise Invalid("min must not exceed max", field="gold_answer")
        return {"min": low, "max": high}

    def gold_answer_from_form(self, post) -> dict:
        try:
            return {"min": int(post.get("gold_min", "")), "max": int(post.get("gold_max", ""))}
        except ValueError:
            raise Invalid("choose the lowest and highest accepted strength",
                          field="gold_answer") from None

    def gold_accuracy(self, rows: list[dict]):
        return gold_accuracy(
            labelers=[r["labeler_id"] for r in rows],
            answers=[math.nan if r["strength"] is None else r["strength"] for r in rows],
            expected_min=[r["gold_answer"]["min"] for r in rows],
            expected_max=[r["gold_answer"]["max"] for r in rows])

    # ----- quality ------------------------------------------------------------

    def consensus_rows(self, project, method: str, labels) -> list[ConsensusRow]:
        rows = list(labels.filter(strength__isnull=False).order_by("pk")
                    .values_list("item_id", "labeler_id", "strength"))
        if not rows:
            return []
        items, labelers, strengths = (np.array(column) for column in zip(*rows, strict=True))
        strengths = strengths.astype(np.float64)
        sides = np.sign(strengths).astype(np.int64)
        if method == ConsensusMethod.MAJORITY:
            # A split between A and B is a tie (label 0) with the tie votes' share as support.
            result = consensus_majority(items=items, labels=sides, tie_label=0)
        elif method == ConsensusMethod.MEAN:
            result = consensus_weighted_mean(items=items, strengths=strengths)
        else:
            fit = dawid_skene(items=items, labelers=labelers, labels=sides, classes=SIDES)
            result = consensus_dawid_skene(result=fit)
        item_ids = result.item_ids
        index = np.searchsorted(item_ids, items)
        label = np.asarray(result.label).astype(np.int64)
        n = np.bincount(index, minlength=len(item_ids))
        on_side = sides == label[index]
        agreeing = np.bincount(index, weights=on_side, minlength=len(item_ids))
        # Strength of the winning side: the mean |strength| of the labels on it
        # (as snapshots compute their margin); the mean method keeps its mean.
        side_sum = np.bincount(index, weights=np.abs(strengths) * on_side, minlength=len(item_ids))
        with np.errstate(invalid="ignore", divide="ignore"):
            side_strength = np.where(agreeing > 0, side_sum / agreeing, 0.0) * label
        strength = result.score if method == ConsensusMethod.MEAN else side_strength
        return [ConsensusRow(item_id=int(i), label=int(label[k]), strength=round(float(strength[k]), 6),
                             ranking=None, agreement=round(float(agreeing[k] / n[k]), 6),
                             confidence=round(float(result.agreement[k]), 6), n_labels=int(n[k]))
                for k, i in enumerate(item_ids)]

    def agreement_report(self, project, labels, *, n_resamples: int) -> dict:
        rows = list(labels.annotate(length_a=_length(0), length_b=_length(1)).values_list(
            "item_id", "labeler_id", "strength", "display_order", "time_on_task_ms",
            "length_a", "length_b"))
        if not rows:
            return {"n_annotations": 0}
        report = pairwise_quality_report(
            items=[r[0] for r in rows], labelers=[r[1] for r in rows],
            strengths=[math.nan if r[2] is None else r[2] for r in rows],
            a_first=[r[3][0] == 0 for r in rows],
            seconds=[seconds_of(r[4]) for r in rows],
            length_a=[r[5] for r in rows], length_b=[r[6] for r in rows],
            n_resamples=n_resamples)
        names = name_labelers(report, [r[1] for r in rows])
        report["kappa"]["labelers"] = [names.get(i) for i in report["kappa"]["labeler_ids"]]
        return report

    def health(self, project, labels, report: dict) -> dict:
        return {"tie_share": report.get("tie_share"),
                "no_preference_share": report.get("no_preference_share"),
                "position_bias": report.get("position_bias"),
                "length_bias": report.get("length_bias")}

    def trend_rows(self, project, labels) -> tuple[list[tuple], str, int]:
        rows = [(i, la, (s > 0) - (s < 0), c) for i, la, s, c in labels.filter(
            strength__isnull=False).values_list("item_id", "labeler_id", "strength", "created_at")]
        return rows, "nominal", 1

    def battles(self, project, labels) -> tuple[list[str], list[str], list[float]]:
        rows = [(a, b, s) for a, b, s in labels.filter(strength__isnull=False).annotate(
            a=_model(0), b=_model(1)).values_list("a", "b", "strength") if a and b and a != b]
        if not rows:
            return [], [], []
        outcome = outcome_for_a(np.array([r[2] for r in rows], dtype=np.float64)).tolist()
        return [r[0] for r in rows], [r[1] for r in rows], outcome

    # ----- snapshots ----------------------------------------------------------

    def pair_outcomes(self, labels: list[tuple], method: str, *, ds_sides=None,
                      rank_weights=None) -> list:
        strengths = [row[2] for row in labels if row[2] is not None]
        if ds_sides is not None:
            outcome = pairwise_from_side(ds_sides.get(labels[0][0]), strengths)
        else:
            outcome = pairwise_consensus(strengths, method=method)
        return [outcome] if outcome else []

    def adjudication_outcomes(self, adjudication) -> list:
        outcome = pairwise_consensus([adjudication.strength], method="majority")
        return [outcome] if outcome else []

    # ----- datasheets ---------------------------------------------------------

    datasheet_alphas = {"alpha_ordinal": "Krippendorff's alpha (ordinal)",
                        "alpha_nominal": "Krippendorff's alpha (nominal, A / tie / B)"}

    def snapshot_quality(self, project, labels) -> dict:
        rows = list(labels.order_by("pk").values_list(
            "item_id", "labeler_id", "strength", "display_order").iterator(chunk_size=5000))
        if not rows:
            return {}
        return _snapshot_figures(rows, item_lengths({r[0] for r in rows}))
