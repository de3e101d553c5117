from django.urls import path

from generation import api

urlpatterns = [
    path("models/", api.ModelListApi.as_view(), name="api-models"),
    path("projects/<int:project_id>/generation-jobs/", api.GenerationJobListApi.as_view(),
         name="api-generation-jobs"),
    path("projects/<int:project_id>/generation-jobs/<int:job_id>/",
         api.GenerationJobDetailApi.as_view(), name="api-generation-job"),
    path("projects/<int:project_id>/generation-jobs/<int:job_id>/cancel/",
         api.GenerationJobCancelApi.as_view(), name="api-generation-job-cancel"),
    path("projects/<int:project_id>/generation-jobs/<int:job_id>/resume/",
         api.GenerationJobResumeApi.as_view(), name="api-generation-job-resume"),
    path("projects/<int:project_id>/judge-prompt/", api.JudgePromptApi.as_view(),
         name="api-judge-prompt"),
]
