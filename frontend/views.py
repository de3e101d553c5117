from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from annotation.access import projects_for_user
from annotation.models import Annotation


@login_required
def home(request):
    """The projects I belong to, with my counts for today and in total."""
    start_of_day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Annotation.objects.filter(labeler=request.user)
    counts = {
        row["project_id"]: row
        for row in mine.values("project_id").annotate(
            total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=start_of_day)))
    }
    projects = [
        {"project": p, "total": counts.get(p.pk, {}).get("total", 0),
         "today": counts.get(p.pk, {}).get("today", 0)}
        for p in projects_for_user(user=request.user).order_by("name")
    ]
    return render(request, "frontend/home.html", {"projects": projects})
