"""What each task type measures: its consensus methods, adjudication rule and figure names.

One mapping, read by the consensus and quality services, snapshots, the API,
the ``agreement`` command and the dashboard, so a task type states its own
reliability, consensus and adjudication measures in one place (it is meant to
move into the task-type registry when that exists). An unknown task type or
method raises instead of falling back to the pairwise behaviour.
"""

from dataclasses import dataclass

from annotation.errors import Invalid
from annotation.models import ConsensusMethod, Project, TaskType


@dataclass(frozen=True)
class TaskMeasures:
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

    @property
    def default_consensus(self) -> str:
        return next(iter(self.consensus))


MEASURES: dict[str, TaskMeasures] = {
    TaskType.PAIRWISE: TaskMeasures(
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
    ),
    TaskType.RANKING: TaskMeasures(
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
    ),
}


def task_measures(task_type: str) -> TaskMeasures:
    try:
        return MEASURES[task_type]
    except KeyError:
        raise ValueError(f"no quality measures for task type '{task_type}'") from None


def consensus_method_for(project: Project, method: str | None = None) -> str:
    """``method``, else the project's own default, else the task type's; checked
    against what the task type offers (a 400 naming ``method`` otherwise)."""
    measures = task_measures(project.task_type)
    method = method or project.consensus_method or measures.default_consensus
    if method not in measures.consensus:
        raise Invalid(f"{project.get_task_type_display()} projects offer "
                      f"{', '.join(measures.consensus)}", field="method")
    return method


def adjudicate_below_for(project: Project, method: str) -> float:
    """The project's threshold, else the task type's default for ``method``."""
    if project.adjudicate_below is not None:
        return float(project.adjudicate_below)
    return task_measures(project.task_type).adjudicate_below[method]


def consensus_choices(project: Project) -> list[tuple[str, str, bool]]:
    """(method, what it computes for this task type, whether it is the project's
    default) for the selectors of the quality and datasets pages."""
    chosen = consensus_method_for(project)
    return [(value, label, value == chosen)
            for value, label in task_measures(project.task_type).consensus.items()]
