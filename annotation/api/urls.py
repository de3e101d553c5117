from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated

from annotation.api import views_auth, views_datasets, views_labeling, views_projects

urlpatterns = [
    # drf-spectacular serves these to anyone by default (SERVE_PERMISSIONS);
    # like the rest of the API they are for signed-in users.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
         name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(
        url_name="api-schema", permission_classes=[IsAuthenticated]), name="api-docs"),
    path("auth/token/", views_auth.TokenLoginApi.as_view(), name="api-token-login"),
    path("tokens/", views_auth.TokenListApi.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", views_auth.TokenRevokeApi.as_view(), name="api-token"),
    path("me/", views_auth.MeApi.as_view(), name="api-me"),
    path("me/annotations/", views_labeling.MyAnnotationListApi.as_view(),
         name="api-my-annotations"),
    path("projects/", views_projects.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", views_projects.ProjectDetailApi.as_view(),
         name="api-project"),
    path("projects/<int:project_id>/members/", views_projects.MemberListApi.as_view(),
         name="api-members"),
    path("projects/<int:project_id>/members/<int:membership_id>/",
         views_projects.MemberDetailApi.as_view(), name="api-member"),
    path("projects/<int:project_id>/prompts/", views_projects.PromptListApi.as_view(),
         name="api-prompts"),
    path("projects/<int:project_id>/prompts/<int:prompt_id>/",
         views_projects.PromptDetailApi.as_view(), name="api-prompt"),
    path("projects/<int:project_id>/items/", views_projects.ItemListApi.as_view(),
         name="api-items"),
    path("projects/<int:project_id>/items/<int:item_id>/", views_projects.ItemDetailApi.as_view(),
         name="api-item"),
    path("projects/<int:project_id>/annotations/",
         views_projects.ProjectAnnotationListApi.as_view(), name="api-project-annotations"),
    path("projects/<int:project_id>/next/", views_labeling.NextItemApi.as_view(), name="api-next"),
    path("assignments/<int:assignment_id>/", views_labeling.AssignmentDetailApi.as_view(),
         name="api-assignment"),
    path("assignments/<int:assignment_id>/submit/", views_labeling.SubmitApi.as_view(),
         name="api-submit"),
    path("assignments/<int:assignment_id>/skip/", views_labeling.SkipApi.as_view(),
         name="api-skip"),
    path("projects/<int:project_id>/snapshots/", views_datasets.SnapshotListApi.as_view(),
         name="api-snapshots"),
    path("projects/<int:project_id>/snapshots/<int:snapshot_id>/",
         views_datasets.SnapshotDetailApi.as_view(), name="api-snapshot"),
    path("projects/<int:project_id>/snapshots/<int:snapshot_id>/exports/",
         views_datasets.ExportCreateApi.as_view(), name="api-snapshot-exports"),
    path("projects/<int:project_id>/exports/", views_datasets.ExportListApi.as_view(),
         name="api-exports"),
    path("projects/<int:project_id>/exports/<int:export_id>/", views_datasets.ExportDetailApi.as_view(),
         name="api-export"),
    path("projects/<int:project_id>/exports/<int:export_id>/download/",
         views_datasets.ExportDownloadApi.as_view(), name="api-export-download"),
    path("projects/<int:project_id>/agreement/", views_projects.AgreementApi.as_view(),
         name="api-agreement"),
]
