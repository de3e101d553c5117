from django.contrib.auth import views as auth_views
from django.urls import path

from frontend.views import (
    auth,
    data,
    datasets,
    generation,
    items,
    loop_report,
    pages,
    projects,
    quality,
    team,
    training,
    training_engineer,
    uploads,
)

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", auth.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Admin-issued, one-time password-reset links (annotation/services/users.py).
    path("reset/<uidb64>/<token>/", auth.ThrottledPasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="frontend/password_reset_complete.html"), name="password_reset_complete"),
    path("projects/new/", projects.project_new, name="project-new"),
    path("projects/<int:project_id>/settings/", projects.project_settings, name="project-settings"),
    path("projects/<int:project_id>/data/", uploads.data, name="project-data"),
    path("projects/<int:project_id>/items/", items.items, name="items"),
    path("projects/<int:project_id>/items/<int:item_id>/", items.item, name="item"),
    path("projects/<int:project_id>/training/engineer/", training_engineer.training_engineer,
         name="training-engineer"),
    path("projects/<int:project_id>/team/", team.team, name="team"),
    path("projects/<int:project_id>/team/progress.csv", team.team_csv, name="team-csv"),
    path("invite/<str:secret>/", team.invite, name="invite"),
    path("markdown-preview/", projects.markdown_preview, name="markdown-preview"),
    path("projects/<int:project_id>/label/", pages.label, name="label"),
    path("projects/<int:project_id>/datasets/", datasets.datasets, name="datasets"),
    path("projects/<int:project_id>/quality/", quality.quality, name="quality"),
    path("projects/<int:project_id>/training/", training.training, name="training"),
    path("projects/<int:project_id>/training/loop/rounds/<int:round_id>/",
         loop_report.loop_round_report_page, name="loop-round-report"),
    path("projects/<int:project_id>/generation/", generation.generation, name="generation"),
    path("label/assignments/<int:assignment_id>/content/", data.lease_content,
         name="label-content"),
    path("label/assignments/<int:assignment_id>/state/", data.lease_state, name="label-state"),
]
