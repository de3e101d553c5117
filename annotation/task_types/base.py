"""What every task type states about itself, and the pieces they share.

A task type is one object (a subclass of TaskTypeBase, registered in
annotation.task_types.registry) that answers every question whose answer
depends on the kind of judgement: how a submission is checked, which
"choice" a label counts as for disagreement, how consensus, gold checks,
agreement figures and snapshot rows are computed, and which template and
JS module the labeling page uses. Services, views and templates ask the
registry; none of them branches on the type's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models.functions import Length

from annotation.datasets.rows import labeler_pseudonym
from annotation.errors import Invalid
from annotation.models import ItemResponse


@dataclass(frozen=True)
class TaskMeasures:
    """What a task type measures: its consensus methods, adjudication rule and figure names."""

    # Consensus methods offered, the default first, with what each computes for
    # this task type (the selector's labels).
    consensus: dict[str, str]
    # What ItemConsensus.confidence holds, and the default threshold per method
    # below which an item (with enough labels) goes to adjudication.
    adjudication_measure: str
    adjudicate_below: dict[str, float]
    # The annotator table's agreement column: what "agreement with the others" is.
    reliability_measure: str
    # Krippendorff's alpha figures the report carries: report key -> title.
    alpha_titles: dict[str, str]
    # What the per-period column of "agreement over time" computes.
    trend_measure: str
    # The annotator × annotator heatmap: report key of its matrix, and what it shows.
    heatmap_key: str
    heatmap_measure: str
    # Extra headline figures of the ``agreement`` command: report key -> title.
    summary_titles: dict[str, str]
    # What the trend table's "Percent agreement" counts as agreeing, appended to
    # its heading ("" where the label itself is compared).
    percent_note: str
    # The adjudication queue's short name of ItemConsensus.confidence, and what
    # the heatmap's low end (red) means.
    confidence_name: str = "support"
    heatmap_low: str = "worse than chance"

    @property
    def default_consensus(self) -> str:
        return next(iter(self.consensus))


@dataclass(frozen=True)
class ConsensusRow:
    """One item's stored consensus (an ItemConsensus row before it is written)."""

    item_id: int
    label: int | None
    strength: float | None
    ranking: list[int] | None
    agreement: float
    confidence: float
    n_labels: int


class TaskTypeBase:
    """The hooks each task type implements. Every method raises here, so a type
    that forgets one fails loudly instead of borrowing another type's answer."""

    name: str
    label: str
    measures: TaskMeasures
    # The Annotation (and Adjudication) field holding this type's judgement.
    judgement_field: str
    # The labeling page: the template of the judgement section, the rows of its
    # shortcuts table, and the ES module that drives it (under frontend/static).
    template: str
    shortcuts_template: str
    js_module: str
    # Generation strategies that build this type's items, the default first.
    strategies: tuple[str, ...]
    strategy_hint: str  # the error when a job asks for another type's strategy
    # How the disagreement summary names a label without a judgement.
    no_choice: str = "none"
    # Snapshot rows: False, preference pairs (SnapshotPair); True, single
    # completions with a label (SnapshotCompletion).
    unpaired: bool = False
    # What a snapshot's rows are called (the datasheet's row-count column).
    snapshot_rows_name: str
    # Whether an item is one head-to-head comparison of two responses: what a
    # blind policy evaluation and an arena need (the model behind each side).
    head_to_head: bool

    def __repr__(self) -> str:
        return f"<task type {self.name}>"

    # ----- project settings ---------------------------------------------------

    # The responses per item it takes: (fewest, most).
    num_responses_range: tuple[int, int]

    @property
    def k_varies(self) -> bool:
        """Whether projects of this type choose their K (pages then show it)."""
        low, high = self.num_responses_range
        return low != high

    def default_num_responses(self) -> int:
        raise NotImplementedError

    def num_responses_check(self, num_responses: int) -> None:
        """Raise Invalid (field num_responses) when the count does not fit the type."""
        raise NotImplementedError

    def default_strategy(self, *, n_models: int) -> str:
        return self.strategies[0]

    # ----- labels -------------------------------------------------------------

    def judgement_clean(self, project, data: dict, *, both_bad: bool) -> dict:
        """The type's judgement fields of an annotation, {field: value} for every
        judgement field (the others None); raises Invalid naming the field."""
        raise NotImplementedError

    def adjudication_clean(self, project, data: dict) -> dict:
        """An admin's decision: the judgement fields, checked like a label's."""
        raise NotImplementedError

    def decision_from_form(self, post) -> dict:
        """An adjudication decision from the quality page's form (strings in)."""
        raise NotImplementedError

    def label_from_ranks(self, ranks: list[int]) -> dict:
        """An imported preference (ranks per canonical position, 1 is best) as
        this type's judgement fields; raises Invalid if the type takes none."""
        raise Invalid(f"{self.label} projects do not import preference data", field="format")

    def reduce_ranks(self, ranks: list[int]) -> tuple[list[int], list[int]] | None:
        """Imported ranks over more responses than the project compares, cut down
        to the positions this type keeps and their ranks; None where the type
        takes no such reduction (the import then refuses the record)."""
        return None

    def choice(self, row: dict) -> str | None:
        """What a label counts as for disagreement, e.g. "A", "tie", "up"; None
        without a judgement (a pairwise "both bad" without a preference). ``row``
        holds the judgement fields."""
        raise NotImplementedError

    def is_tie(self, row: dict) -> bool:
        """Whether a label expresses no preference (counted in snapshot summaries)."""
        return False

    # ----- gold ---------------------------------------------------------------

    def gold_answer_clean(self, project, answer) -> dict:
        raise NotImplementedError

    def gold_answer_from_form(self, post) -> dict:
        raise NotImplementedError

    def gold_accuracy(self, rows: list[dict]):
        """annotation.quality.reliability.gold_accuracy over gold labels; each
        row has labeler_id, the judgement fields and gold_answer."""
        raise NotImplementedError

    # ----- quality ------------------------------------------------------------

    def consensus_rows(self, project, method: str, labels) -> list[ConsensusRow]:
        """Per labeled item, its consensus by ``method`` (labels: the project's
        non-gold annotations)."""
        raise NotImplementedError

    def agreement_report(self, project, labels, *, n_resamples: int) -> dict:
        raise NotImplementedError

    def health(self, project, labels, report: dict) -> dict:
        raise NotImplementedError

    def trend_rows(self, project, labels) -> tuple[list[tuple], str, int]:
        """(item, labeler, value, created) rows for agreement over time, the
        alpha level, and how many units an item contributes."""
        raise NotImplementedError

    def battles(self, project, labels) -> tuple[list[str], list[str], list[float]]:
        """(model A, model B, outcome for A) per labeled comparison of two named models."""
        return [], [], []

    # ----- snapshots ----------------------------------------------------------

    def pair_outcomes(self, labels: list[tuple], method: str, *, ds_sides=None,
                      rank_weights=None) -> list:
        """The PairOutcomes of one item's labels (paired types)."""
        raise NotImplementedError

    def adjudication_outcomes(self, adjudication) -> list:
        raise NotImplementedError

    # ----- datasheets ---------------------------------------------------------

    # The alphas a datasheet reports (snapshot_quality key -> wording), and how it
    # qualifies the bias figures.
    datasheet_alphas: dict[str, str]
    datasheet_pairs_note: str = ""

    def snapshot_quality(self, project, labels) -> dict:
        """Alphas (and biases where responses are compared) of a snapshot's labels;
        {} without labels."""
        raise NotImplementedError


def item_lengths(item_ids) -> dict[int, dict[int, int]]:
    """Per item, the character length of each position's response."""
    lengths: dict[int, dict[int, int]] = {}
    rows = ItemResponse.objects.filter(item_id__in=item_ids).annotate(
        n=Length("response__text")).values_list("item_id", "position", "n")
    for item_id, position, n in rows.iterator(chunk_size=5000):
        lengths.setdefault(item_id, {})[position] = n
    return lengths


def user_names(ids) -> dict:
    users = get_user_model().objects.filter(pk__in=set(ids)).values_list("pk", "username")
    return dict(users)


def name_labelers(report: dict, labeler_ids: list) -> dict:
    """Usernames on the labeler rows; the labelers behind a dataset-level position
    bias by pseudonym (as exports name them)."""
    names = user_names(labeler_ids)
    for row in report["labelers"]:
        row["username"] = names.get(row["id"])
    position = report.get("position_bias")
    if position is not None:
        position["drivers"] = [labeler_pseudonym(int(i)) for i in position.get("drivers", [])]
    return names


def seconds_of(time_ms) -> float:
    return math.nan if time_ms is None else time_ms / 1000


def wrong_field(type_label: str, takes: str, field: str) -> Invalid:
    return Invalid(f"{type_label} projects take {takes}, not a {field}", field=field)
