"""A project's agreement report: database rows in, the numeric quality core out.

The statistics themselves live in annotation.quality (framework-free); this
module only gathers the arrays and names the labelers.
"""

import math
from itertools import combinations

from django.contrib.auth import get_user_model
from django.db.models import IntegerField, OuterRef, Subquery
from django.db.models.functions import Length

from annotation.datasets.rows import labeler_pseudonym
from annotation.models import Annotation, ItemResponse, Project, TaskType
from annotation.quality.reliability import gold_accuracy
from annotation.quality.report import pairwise_quality_report, ranking_quality_report


def _length(position: int):
    texts = ItemResponse.objects.filter(item=OuterRef("item_id"), position=position)
    return Subquery(texts.annotate(n=Length("response__text")).values("n")[:1],
                    output_field=IntegerField())


def _names(ids) -> dict:
    users = get_user_model().objects.filter(pk__in=set(ids)).values_list("pk", "username")
    return dict(users)


def _ranking_gold_correct(answer: list | None, gold: list) -> float:
    """1 when the answer orders every pair the gold orders the same way: the gold
    ranking may be partial (tied responses are left to the labeler)."""
    if not answer or len(answer) != len(gold):
        return 0.0
    return float(all((answer[i] < answer[j]) == (gold[i] < gold[j])
                     for i, j in combinations(range(len(gold)), 2) if gold[i] != gold[j]))


def _gold(project: Project) -> dict:
    rows: list = list(Annotation.objects.filter(project=project, item__is_gold=True)
                .values_list("labeler_id", "strength", "item__gold_answer", "ranking"))
    if not rows:
        return {"overall": None, "labelers": {}}
    if project.task_type == TaskType.RANKING:
        result = gold_accuracy(
            labelers=[r[0] for r in rows], expected_min=[1.0] * len(rows),
            answers=[_ranking_gold_correct(r[3], r[2]["ranking"]) for r in rows])
    else:
        result = gold_accuracy(
            labelers=[r[0] for r in rows],
            answers=[math.nan if r[1] is None else r[1] for r in rows],
            expected_min=[r[2]["min"] for r in rows], expected_max=[r[2]["max"] for r in rows])
    names = _names(result.labeler_ids.tolist())
    return {"overall": result.overall, "labelers": {
        names[int(i)]: {"n": int(n), "accuracy": None if math.isnan(a) else float(a)}
        for i, n, a in zip(result.labeler_ids, result.n, result.accuracy, strict=True)}}


def project_agreement_report(*, project: Project, n_resamples: int = 1000) -> dict:
    """Agreement, reliability and bias figures of a project's (non-gold) labels."""
    labels = Annotation.objects.filter(project=project, item__is_gold=False).order_by("pk")
    header = {"project": project.slug, "task_type": project.task_type,
              "gold": _gold(project)}
    if project.task_type == TaskType.RANKING:
        rows: list = list(labels.exclude(ranking=None).values_list(
            "item_id", "labeler_id", "ranking", "display_order", "time_on_task_ms"))
        if not rows:
            return header | {"n_annotations": 0}
        report = ranking_quality_report(
            items=[r[0] for r in rows], labelers=[r[1] for r in rows],
            rankings=[r[2] for r in rows], display_orders=[r[3] for r in rows],
            seconds=[math.nan if r[4] is None else r[4] / 1000 for r in rows],
            n_resamples=n_resamples)
        names = _name_labelers(report, [r[1] for r in rows])
        report["tau_b"]["labelers"] = [names.get(i) for i in report["tau_b"]["labeler_ids"]]
        return header | report
    rows = list(labels.annotate(length_a=_length(0), length_b=_length(1)).values_list(
        "item_id", "labeler_id", "strength", "display_order", "time_on_task_ms",
        "length_a", "length_b"))
    if not rows:
        return header | {"n_annotations": 0}
    report = pairwise_quality_report(
        items=[r[0] for r in rows], labelers=[r[1] for r in rows],
        strengths=[math.nan if r[2] is None else r[2] for r in rows],
        a_first=[r[3][0] == 0 for r in rows],
        seconds=[math.nan if r[4] is None else r[4] / 1000 for r in rows],
        length_a=[r[5] for r in rows], length_b=[r[6] for r in rows],
        n_resamples=n_resamples)
    names = _name_labelers(report, [r[1] for r in rows])
    report["kappa"]["labelers"] = [names.get(i) for i in report["kappa"]["labeler_ids"]]
    return header | report


def _name_labelers(report: dict, labeler_ids: list) -> dict:
    """Usernames on the labeler rows; the labelers behind a dataset-level position
    bias by pseudonym (as exports name them)."""
    names = _names(labeler_ids)
    for row in report["labelers"]:
        row["username"] = names.get(row["id"])
    position = report.get("position_bias")
    if position is not None:
        position["drivers"] = [labeler_pseudonym(int(i)) for i in position.get("drivers", [])]
    return names
