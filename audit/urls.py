from django.urls import path

from audit import api

urlpatterns = [
    path("audit/", api.AuditListApi.as_view(), name="api-audit"),
    path("projects/<int:project_id>/audit/", api.ProjectAuditListApi.as_view(),
         name="api-project-audit"),
]
