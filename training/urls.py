from django.urls import path

from training import api, schedules_api
from training.loop import api as loop_api

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
    path("projects/<int:project_id>/training-schedules/", schedules_api.TrainingScheduleListApi.as_view(),
         name="api-training-schedules"),
    path("projects/<int:project_id>/training-schedules/<int:schedule_id>/",
         schedules_api.TrainingScheduleDetailApi.as_view(), name="api-training-schedule"),
    # The closed loop and policy evaluations (training/loop/api.py).
    path("projects/<int:project_id>/loop/", loop_api.LoopSettingApi.as_view(), name="api-loop"),
    path("projects/<int:project_id>/loop/rounds/", loop_api.LoopRoundListApi.as_view(),
         name="api-loop-rounds"),
    path("projects/<int:project_id>/loop/rounds/<int:round_id>/", loop_api.LoopRoundDetailApi.as_view(),
         name="api-loop-round"),
    path("projects/<int:project_id>/loop/rounds/<int:round_id>/report/",
         loop_api.LoopRoundReportApi.as_view(), name="api-loop-round-report"),
    path("projects/<int:project_id>/loop/rounds/<int:round_id>/cancel/",
         loop_api.LoopRoundCancelApi.as_view(), name="api-loop-round-cancel"),
    path("projects/<int:project_id>/policy-evaluations/<int:evaluation_id>/",
         loop_api.PolicyEvaluationDetailApi.as_view(), name="api-policy-evaluation"),
    path("projects/<int:project_id>/policy-evaluations/<int:evaluation_id>/human/",
         loop_api.PolicyEvaluationHumanApi.as_view(), name="api-policy-evaluation-human"),
]
