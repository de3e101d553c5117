"""Single-response feedback: one response, thumbs up or down, optional Likert
criteria and a rationale (how Argilla and Open-Assistant collect ratings, and
what KTO trains on natively).

``Annotation.feedback`` holds the thumbs (true up, false down); the criteria
scores are the annotation's ``ratings`` (one score per criterion). Consensus
is over up/down: majority vote or Dawid–Skene; ItemConsensus.label is 1 (up)
or 0 (down) and ``strength`` the share of thumbs up. Snapshots hold single
completions with their consensus label (SnapshotCompletion), exported in
TRL's unpaired prompt/completion/label layout and as SFT rows from the ups.
"""

from dataclasses import dataclass

import numpy as np

from annotation.errors import Invalid
from annotation.models import ConsensusMethod
from annotation.quality.consensus import consensus_dawid_skene, consensus_majority
from annotation.quality.dawid_skene import dawid_skene
from annotation.quality.reliability import gold_accuracy
from annotation.quality.report import feedback_quality_report
from annotation.task_types.base import (
    ConsensusRow,
    TaskMeasures,
    TaskTypeBase,
    name_labelers,
    seconds_of,
)

CLASSES = np.array([0, 1])  # down, up


def feedback_clean(value, *, field: str = "feedback") -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true (thumbs up) or false (thumbs down)", field=field)
    return value


def _only(data: dict) -> None:
    for other in ("strength", "ranking"):
        if data.get(other) is not None:
            raise Invalid(f"feedback projects take a thumbs up or down (feedback), not a {other}",
                          field=other)


@dataclass(frozen=True)
class CompletionOutcome:
    """An item's consensus: thumbs up or down, the share of ups, and the share
    of labels (or the posterior) on the consensus side."""

    label: bool
    score: float
    agreement: float


def completion_outcome(votes: list[bool], *, method: str,
                       decided: tuple[int, float] | None = None) -> CompletionOutcome | None:
    """The consensus of one item's thumbs. majority: more ups than downs is up,
    more downs is down, an even split has no consensus (None); dawid_skene:
    ``decided`` (label, posterior) fitted over the whole snapshot."""
    if not votes:
        return None
    ups = sum(votes)
    score = ups / len(votes)
    if method == ConsensusMethod.DAWID_SKENE and decided is not None:
        return CompletionOutcome(label=bool(decided[0]), score=score, agreement=decided[1])
    if ups * 2 == len(votes):
        return None
    label = ups * 2 > len(votes)
    return CompletionOutcome(label=label, score=score, agreement=score if label else 1 - score)


def feedback_dawid_skene(rows) -> dict[int, tuple[int, float]]:
    """Per item, the Dawid–Skene label (1 up, 0 down) and its posterior, fitted
    once over (item, labeler, feedback) rows."""
    rows = [(i, la, int(f)) for i, la, f in rows if f is not None]
    if not rows:
        return {}
    items, labelers, labels = (np.array(column) for column in zip(*rows, strict=True))
    result = consensus_dawid_skene(result=dawid_skene(items=items, labelers=labelers, labels=labels,
                                                      classes=CLASSES))
    return {int(i): (int(label), float(confidence)) for i, label, confidence
            in zip(result.item_ids, result.label, result.agreement, strict=True)}


class Feedback(TaskTypeBase):
    name = "feedback"
    label = "Single-response feedback"
    judgement_field = "feedback"
    template = "frontend/task_types/feedback.html"
    shortcuts_template = "frontend/task_types/feedback_keys.html"
    js_module = "frontend/js/task_types/feedback.js"
    strategies = ("single",)
    strategy_hint = "a feedback project takes the single strategy (one response per item)"
    unpaired = True
    snapshot_rows_name = "completions"
    head_to_head = False
    measures = TaskMeasures(
        consensus={
            ConsensusMethod.MAJORITY: "Majority vote (up / down)",
            ConsensusMethod.DAWID_SKENE: "Dawid–Skene posterior (up / down)",
        },
        adjudication_measure="support of the consensus thumbs (vote share, or Dawid–Skene posterior)",
        # As pairwise: a vote share of 0.6 and the overconfident posterior's 0.8.
        adjudicate_below={ConsensusMethod.MAJORITY: 0.6, ConsensusMethod.DAWID_SKENE: 0.8},
        reliability_measure="share agreeing with the leave-one-out majority (up / down)",
        alpha_titles={"alpha_nominal": "Krippendorff's α, thumbs up / down (nominal)",
                      "alpha_interval": "Krippendorff's α, criteria scores (interval)"},
        trend_measure="Krippendorff's α (up / down, nominal)",
        heatmap_key="kappa",
        heatmap_measure="Cohen's kappa on thumbs up / down",
        summary_titles={"percent_agreement": "percent agreement", "up_share": "thumbs-up share"},
        percent_note="",
    )

    num_responses_range = (1, 1)

    def default_num_responses(self) -> int:
        return 1

    def num_responses_check(self, num_responses: int) -> None:
        if num_responses != 1:
            raise Invalid("feedback projects show exactly 1 response", field="num_responses")

    # ----- labels -------------------------------------------------------------

    def judgement_clean(self, project, data: dict, *, both_bad: bool) -> dict:
        _only(data)
        if both_bad:
            raise Invalid("feedback projects rate one response: give a thumbs down instead",
                          field="both_bad")
        if data.get("feedback") is None:
            raise Invalid("a thumbs up (true) or down (false) is required", field="feedback")
        return {"strength": None, "ranking": None, "feedback": feedback_clean(data["feedback"])}

    def adjudication_clean(self, project, data: dict) -> dict:
        _only(data)
        return {"strength": None, "ranking": None,
                "feedback": feedback_clean(data.get("feedback"))}

    def decision_from_form(self, post) -> dict:
        raw = post.get("feedback", "")
        if raw not in ("up", "down"):
            raise Invalid("choose a decision: up or down", field="feedback")
        return {"feedback": raw == "up"}

    def choice(self, row: dict) -> str | None:
        value = row["feedback"]
        return None if value is None else ("up" if value else "down")

    # ----- gold ---------------------------------------------------------------

    def gold_answer_clean(self, project, answer) -> dict:
        """{"feedback": true} (thumbs up expected) or false."""
        return {"feedback": feedback_clean(answer.get("feedback"), field="gold_answer")}

    def gold_answer_from_form(self, post) -> dict:
        raw = post.get("gold_feedback", "")
        if raw not in ("up", "down"):
            raise Invalid("choose the expected thumbs: up or down", field="gold_answer")
        return {"feedback": raw == "up"}

    def gold_accuracy(self, rows: list[dict]):
        return gold_accuracy(
            labelers=[r["labeler_id"] for r in rows], expected_min=[1.0] * len(rows),
            answers=[float(r["feedback"] is not None and r["feedback"] == r["gold_answer"]["feedback"])
                     for r in rows])

    # ----- quality ------------------------------------------------------------

    def consensus_rows(self, project, method: str, labels) -> list[ConsensusRow]:
        rows = list(labels.filter(feedback__isnull=False).order_by("pk")
                    .values_list("item_id", "labeler_id", "feedback"))
        if not rows:
            return []
        items, labelers, votes = (np.array(column) for column in zip(*rows, strict=True))
        votes = votes.astype(np.int64)
        if method == ConsensusMethod.DAWID_SKENE:
            result = consensus_dawid_skene(result=dawid_skene(
                items=items, labelers=labelers, labels=votes, classes=CLASSES))
        else:
            # An even split goes to the smaller label (down) with support 0.5,
            # below every default threshold: it waits for adjudication.
            result = consensus_majority(items=items, labels=votes)
        index = np.searchsorted(result.item_ids, items)
        n = np.bincount(index, minlength=len(result.item_ids))
        ups = np.bincount(index, weights=votes, minlength=len(result.item_ids))
        label = np.asarray(result.label).astype(np.int64)
        return [ConsensusRow(item_id=int(i), label=int(label[k]),
                             strength=round(float(ups[k] / n[k]), 6), ranking=None,
                             agreement=round(float((ups[k] if label[k] else n[k] - ups[k]) / n[k]), 6),
                             confidence=round(float(result.agreement[k]), 6), n_labels=int(n[k]))
                for k, i in enumerate(result.item_ids)]

    def agreement_report(self, project, labels, *, n_resamples: int) -> dict:
        rows = list(labels.filter(feedback__isnull=False).values_list(
            "item_id", "labeler_id", "feedback", "ratings", "time_on_task_ms"))
        if not rows:
            return {"n_annotations": 0}
        ratings: dict[str, tuple[list, list, list]] = {c["name"]: ([], [], [])
                                                        for c in project.criteria or []}
        for item_id, labeler_id, _, scores, _ in rows:
            for name, values in (scores or {}).items():
                if name in ratings and values and values[0] is not None:
                    ratings[name][0].append(item_id)
                    ratings[name][1].append(labeler_id)
                    ratings[name][2].append(values[0])
        report = feedback_quality_report(
            items=[r[0] for r in rows], labelers=[r[1] for r in rows],
            feedback=[int(r[2]) for r in rows], ratings=ratings,
            seconds=[seconds_of(r[4]) for r in rows], n_resamples=n_resamples)
        names = name_labelers(report, [r[1] for r in rows])
        report["kappa"]["labelers"] = [names.get(i) for i in report["kappa"]["labeler_ids"]]
        return report

    def health(self, project, labels, report: dict) -> dict:
        return {"up_share": report.get("up_share"), "tie_share": None}

    def trend_rows(self, project, labels) -> tuple[list[tuple], str, int]:
        rows = [(i, la, int(f), c) for i, la, f, c in labels.filter(
            feedback__isnull=False).values_list("item_id", "labeler_id", "feedback", "created_at")]
        return rows, "nominal", 1

    # ----- snapshots ----------------------------------------------------------

    def completion(self, votes: list[bool], method: str, *,
                   decided: tuple[int, float] | None = None) -> CompletionOutcome | None:
        return completion_outcome(votes, method=method, decided=decided)

    # ----- datasheets ---------------------------------------------------------

    datasheet_alphas = {"alpha_nominal": "Krippendorff's alpha (nominal, thumbs up / down)",
                        "alpha_interval": "Krippendorff's alpha (interval, criteria scores)"}

    def snapshot_quality(self, project, labels) -> dict:
        # One response per item: no position or length bias.
        report = self.agreement_report(project, labels, n_resamples=0)
        if not report.get("n_annotations"):
            return {}
        return {key: report[key]["estimate"] for key in self.datasheet_alphas}

    def adjudication_outcomes(self, adjudication) -> list:
        return [CompletionOutcome(label=bool(adjudication.feedback),
                                  score=1.0 if adjudication.feedback else 0.0, agreement=1.0)]
