"""Per-item consensus, stored: annotations in, one ItemConsensus row per labeled item out.

The numbers come from annotation.quality (majority vote, mean strength or the
Dawid–Skene posterior for pairwise items; mean or reliability-weighted mean
ranks for rankings); the methods and thresholds per task type are in
annotation.task_measures; this
module gathers the arrays, flags the items whose consensus is weak for
adjudication, and writes the rows in one transaction.
"""

from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotation.events import event_emit
from annotation.models import (
    Adjudication,
    Annotation,
    ConsensusMethod,
    ItemConsensus,
    Project,
    TaskType,
)
from annotation.quality.consensus import (
    consensus_dawid_skene,
    consensus_majority,
    consensus_weighted_mean,
)
from annotation.quality.dawid_skene import dawid_skene
from annotation.quality.ranking_consensus import consensus_rankings
from annotation.quality.ranking_reliability import ranking_reliability
from annotation.task_measures import adjudicate_below_for, consensus_method_for

MIN_LABELS = 2
SIDES = np.array([-1, 0, 1])


@dataclass(frozen=True)
class _Row:
    item_id: int
    label: int | None
    strength: float | None
    ranking: list[int] | None
    agreement: float
    confidence: float
    n_labels: int


def consensus_method_default(project: Project) -> str:
    """The project's own default, else its task type's (annotation.task_measures)."""
    return consensus_method_for(project)


def consensus_method_clean(project: Project, method) -> str:
    return consensus_method_for(project, method or None)


def _pairwise(project: Project, method: str) -> list[_Row]:
    rows = list(Annotation.objects.filter(project=project, item__is_gold=False, strength__isnull=False)
                .order_by("pk").values_list("item_id", "labeler_id", "strength"))
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
    return [_Row(item_id=int(i), label=int(label[k]), strength=round(float(strength[k]), 6),
                 ranking=None, agreement=round(float(agreeing[k] / n[k]), 6),
                 confidence=round(float(result.agreement[k]), 6), n_labels=int(n[k]))
            for k, i in enumerate(item_ids)]


def ranking_weights(rows: list[tuple]) -> np.ndarray | None:
    """Per (item, labeler, ranking, display_order) row, its labeler's reliability
    weight (annotation.quality.ranking_reliability), fitted on these rows."""
    if not rows:
        return None
    fit = ranking_reliability(items=[r[0] for r in rows], labelers=[r[1] for r in rows],
                              rankings=[r[2] for r in rows], display_orders=[r[3] for r in rows])
    return fit.annotation_weight


def _ranking(project: Project, method: str) -> list[_Row]:
    rows: list = list(Annotation.objects.filter(project=project, item__is_gold=False, ranking__isnull=False)
                .order_by("pk").values_list("item_id", "labeler_id", "ranking", "display_order"))
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
        out.append(_Row(item_id=int(item_id), label=None, strength=None, ranking=result.ranking[k],
                        agreement=round(float(result.agreement[k]), 6),
                        confidence=round(float(confidence), 6), n_labels=int(result.n_votes[k])))
    return out


def item_consensus_recompute(*, project: Project, method: str | None = None,
                             threshold: float | None = None, min_labels: int = MIN_LABELS) -> dict:
    """Recompute and store the consensus of every labeled (non-gold) item.

    Items with ``confidence < threshold`` (default: the project's, else the
    task type's for the method, annotation.task_measures) and at least
    ``min_labels`` labels need adjudication unless an admin already decided
    them. Rows of items that lost all their labels are removed. Returns counts for the report.
    """
    method = consensus_method_clean(project, method)
    if threshold is None:
        threshold = adjudicate_below_for(project, method)
    rows = (_pairwise(project, method) if project.task_type == TaskType.PAIRWISE
            else _ranking(project, method))
    decided = set(Adjudication.objects.filter(project=project).values_list("item_id", flat=True))
    now = timezone.now()
    objects = [ItemConsensus(
        item_id=r.item_id, project=project, method=method, label=r.label, strength=r.strength,
        ranking=r.ranking, agreement=r.agreement, confidence=r.confidence, n_labels=r.n_labels,
        needs_adjudication=(r.n_labels >= min_labels and r.confidence < threshold
                            and r.item_id not in decided),
        computed_at=now) for r in rows]
    # Two recomputes of one project rarely overlap (submissions debounce to one
    # per window); if an on-demand one does, the rows of whichever commits last
    # stand until the next recompute, which the next submission schedules.
    with transaction.atomic():
        # Flagged before this run: only items newly needing a decision are announced.
        was_flagged = set(ItemConsensus.objects.filter(project=project, needs_adjudication=True)
                          .values_list("item_id", flat=True))
        ItemConsensus.objects.bulk_create(
            objects, batch_size=1000, update_conflicts=True, unique_fields=["item"],
            update_fields=["method", "label", "strength", "ranking", "agreement", "confidence",
                           "n_labels", "needs_adjudication", "computed_at"])
        # Every current row now carries this run's stamp; older stamps belong
        # to items that lost all their labels.
        ItemConsensus.objects.filter(project=project).exclude(computed_at=now).delete()
        for o in objects:
            if o.needs_adjudication and o.item_id not in was_flagged:
                event_emit(project_id=project.pk, name="item.needs_adjudication", data={
                    "item_id": o.item_id, "method": method, "confidence": o.confidence,
                    "agreement": o.agreement, "n_labels": o.n_labels, "threshold": threshold})
    flagged = sum(o.needs_adjudication for o in objects)
    return {"method": method, "n_items": len(objects), "n_flagged": flagged,
            "threshold": threshold, "min_labels": min_labels}
