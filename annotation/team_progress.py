"""Per-member progress of a project, for its admins: the team table and its CSV.

Volumes (today, this week, total) and what remains are counted live; the
quality figures (agreement with the others' consensus, gold accuracy, median
seconds per item) come from the project's stored quality report, which the
debounced recompute keeps current — so this page costs a few grouped counts,
not a recomputation.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from annotation.access import LABEL
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    ComparisonItem,
    Membership,
    Project,
    ProjectQuality,
)
from annotation.services.quality_figures import labeler_rows

# What remains for one labeler is counted up to this many items.
REMAINING_CAP = 1000
SORT_KEYS = ("username", "role", "today", "week", "total", "median_seconds", "agreement",
             "gold_accuracy", "remaining")


@dataclass(frozen=True)
class MemberProgress:
    membership_id: int
    user_id: int
    username: str
    role: str
    today: int
    week: int
    total: int
    median_seconds: float | None
    agreement: float | None
    gold_n: int
    gold_accuracy: float | None
    remaining: int | None  # None: the role does not label
    remaining_capped: bool
    live_leases: int

    def as_dict(self) -> dict:
        return asdict(self)


def day_start(now: datetime | None = None) -> datetime:
    now = timezone.localtime(now or timezone.now())
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def items_remaining_for_labeler(*, project: Project, labeler, cap: int = REMAINING_CAP) -> int:
    """Open non-gold items this labeler has never been given, plus a live
    lease; counted up to ``cap`` (an estimate: others may fill items first)."""
    seen = Assignment.objects.filter(item=OuterRef("pk"), labeler=labeler)
    unseen = ComparisonItem.objects.filter(project=project, is_open=True, is_gold=False).filter(
        ~Exists(seen)).values("pk")[:cap]
    live = Assignment.objects.filter(project=project, labeler=labeler,
                                     status=AssignmentStatus.LEASED,
                                     expires_at__gt=timezone.now()).exists()
    return min(cap, unseen.count() + int(live))


def _report_rows(project: Project) -> dict[str, dict]:
    state = ProjectQuality.objects.filter(project=project).first()
    if state is None or not state.report:
        return {}
    return {row["username"]: row for row in labeler_rows(state.report)}


def team_progress(*, project: Project, sort: str = "username", now: datetime | None = None
                  ) -> list[MemberProgress]:
    """One row per member, sorted by ``sort`` (a key of SORT_KEYS, ``-`` for descending)."""
    today = day_start(now)
    week = today - timedelta(days=today.weekday())
    counts = {row["labeler_id"]: row for row in Annotation.objects.filter(project=project)
              .values("labeler_id").annotate(
                  total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=today)),
                  week=Count("pk", filter=Q(created_at__gte=week)))}
    leases = dict(Assignment.objects.filter(project=project, status=AssignmentStatus.LEASED,
                                            expires_at__gt=timezone.now())
                  .values("labeler_id").annotate(n=Count("pk")).values_list("labeler_id", "n"))
    report = _report_rows(project)
    rows = []
    for membership in Membership.objects.filter(project=project).select_related("user"):
        user = membership.user
        mine = counts.get(user.pk, {"total": 0, "today": 0, "week": 0})
        figures = report.get(user.username, {})
        remaining = (items_remaining_for_labeler(project=project, labeler=user)
                     if membership.role in LABEL else None)
        rows.append(MemberProgress(
            membership_id=membership.pk, user_id=user.pk, username=user.username,
            role=membership.role, today=mine["today"], week=mine["week"], total=mine["total"],
            median_seconds=figures.get("median_seconds"), agreement=figures.get("loo_agreement"),
            gold_n=figures.get("gold_n", 0), gold_accuracy=figures.get("gold_accuracy"),
            remaining=remaining, remaining_capped=remaining is not None and remaining >= REMAINING_CAP,
            live_leases=leases.get(user.pk, 0)))
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        key = "username"
    present = [r for r in rows if getattr(r, key) is not None]
    missing = [r for r in rows if getattr(r, key) is None]  # always last
    present.sort(key=lambda r: (getattr(r, key), r.username), reverse=sort.startswith("-"))
    return present + missing
