from django.urls import path

from training import api

urlpatterns = [
    path("projects/<int:project_id>/training-runs/", api.TrainingRunListApi.as_view(),
         name="api-training-runs"),
    path("projects/<int:project_id>/training-runs/<int:run_id>/", api.TrainingRunDetailApi.as_view(),
         name="api-training-run"),
    path("projects/<int:project_id>/training-runs/<int:run_id>/cancel/",
         api.TrainingRunCancelApi.as_view(), name="api-training-run-cancel"),
    path("projects/<int:project_id>/training-runs/<int:run_id>/resume/",
         api.TrainingRunResumeApi.as_view(), name="api-training-run-resume"),
    path("projects/<int:project_id>/training-runs/<int:run_id>/activate/",
         api.TrainingRunActivateApi.as_view(), name="api-training-run-activate"),
]
