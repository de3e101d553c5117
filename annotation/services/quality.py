"""A project's agreement report: database rows in, the numeric quality core out.

The statistics themselves live in annotation.quality (framework-free); each
task type (annotation.task_types) gathers its arrays and names the labelers.
"""

import math

from annotation.models import Annotation, Project
from annotation.task_types import task_type_of
from annotation.task_types.base import user_names


def _gold(project: Project) -> dict:
    rows: list[dict] = [
        {**row, "gold_answer": row["item__gold_answer"]}
        for row in Annotation.objects.filter(project=project, item__is_gold=True)
        .values("labeler_id", "strength", "ranking", "feedback", "item__gold_answer")]
    if not rows:
        return {"overall": None, "labelers": {}}
    result = task_type_of(project).gold_accuracy(rows)
    names = user_names(result.labeler_ids.tolist())
    return {"overall": result.overall, "labelers": {
        names[int(i)]: {"n": int(n), "accuracy": None if math.isnan(a) else float(a)}
        for i, n, a in zip(result.labeler_ids, result.n, result.accuracy, strict=True)}}


def project_agreement_report(*, project: Project, n_resamples: int = 1000) -> dict:
    """Agreement, reliability and bias figures of a project's (non-gold) labels."""
    labels = Annotation.objects.filter(project=project, item__is_gold=False).order_by("pk")
    header = {"project": project.slug, "task_type": project.task_type,
              "gold": _gold(project)}
    return header | task_type_of(project).agreement_report(project, labels, n_resamples=n_resamples)
