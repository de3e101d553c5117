"""Per-labeler caps of a project: at most N labels per labeler per day, and
optionally in all (``Project.daily_label_cap``, ``total_label_cap``).

The queue checks them when it would hand out a new item (a live lease is
returned as before: its label is within the cap it was leased under), with one
aggregate over the labeler's own annotations in the project, which the
``annotation_labeler_idx`` index (labeler, project) answers. A project without
caps runs no query at all. The day is the server's local day, as the team and
labeler-home counts use.
"""

from datetime import datetime

from django.db.models import Count, Q

from annotation.errors import Conflict
from annotation.models import Annotation, Project
from annotation.team_progress import day_start


class LabelCapReached(Conflict):
    code = "label_cap_reached"


def label_caps_set(project: Project) -> bool:
    return project.daily_label_cap is not None or project.total_label_cap is not None


def label_cap_reason(*, project: Project, today: int, total: int) -> str:
    """Why a labeler with these counts gets no new item, or "" if the caps allow one."""
    if project.total_label_cap is not None and total >= project.total_label_cap:
        return (f"Total cap reached: you have given {total} labels in this project, "
                f"its cap of {project.total_label_cap} per labeler.")
    if project.daily_label_cap is not None and today >= project.daily_label_cap:
        return (f"Daily cap reached: you have given {today} labels today, the project's cap "
                f"of {project.daily_label_cap} per day. More tomorrow.")
    return ""


def label_cap_check(*, project: Project, labeler, now: datetime) -> None:
    """Raise LabelCapReached (with the reason) when the labeler is at a cap."""
    if not label_caps_set(project):
        return
    counts = Annotation.objects.filter(project=project, labeler=labeler).aggregate(
        total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=day_start(now))))
    reason = label_cap_reason(project=project, today=counts["today"], total=counts["total"])
    if reason:
        raise LabelCapReached(reason)
