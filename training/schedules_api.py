"""REST API for training schedules: one per project and run kind (reward, dpo,
sft), checked as the runs they will start are. Thin views over
training.services.schedules; admins and engineers of the project (CURATE), a
labeler 403, anyone else 404.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView
from annotation.errors import Conflict, Invalid, NotFound
from generation.services.registry import model_specs_usable
from training.models import RunKind, TrainingSchedule
from training.services import schedules as schedule_services


class TrainingScheduleInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RunKind.choices, default=RunKind.REWARD,
                                   help_text="Fixed once created (one schedule per kind).")
    enabled = serializers.BooleanField(default=True)
    min_new_pairs = serializers.IntegerField(min_value=0, default=200)
    min_interval_hours = serializers.FloatField(min_value=0, default=24.0)
    check_every_minutes = serializers.IntegerField(min_value=1, default=30)
    base_model = serializers.CharField(required=False, allow_blank=True, default="",
                                       help_text="A registered model's name; empty: the kind's default.")
    hyperparameters = serializers.DictField(
        required=False, default=dict,
        help_text="As a training run of the kind takes them (RewardConfig or PolicyConfig fields, "
                  "e.g. loss, beta); checked now, defaults filled in when a run starts.")
    filters = serializers.DictField(required=False, default=dict, help_text="Snapshot filters.")


class TrainingScheduleOutput(serializers.ModelSerializer):
    base_model = serializers.CharField(source="base_model.name", allow_null=True, default=None)

    class Meta:
        model = TrainingSchedule
        fields = ["id", "project_id", "kind", "enabled", "min_new_pairs", "min_interval_hours",
                  "check_every_minutes", "base_model", "hyperparameters", "filters", "last_checked_at",
                  "last_triggered_at", "last_message", "created_at"]


def _schedule(project, schedule_id) -> TrainingSchedule:
    schedule = (TrainingSchedule.objects.filter(project=project, pk=schedule_id)
                .select_related("project", "base_model").first())
    if schedule is None:
        raise NotFound("Training schedule not found.")
    return schedule


def _apply(schedule: TrainingSchedule, values: dict) -> None:
    for name in ("enabled", "min_new_pairs", "min_interval_hours", "check_every_minutes",
                 "hyperparameters", "filters"):
        if name in values:
            setattr(schedule, name, values[name])
    if "base_model" in values:
        name = values["base_model"].strip()
        # Another project's trained model is "no such model" here, as for runs.
        schedule.base_model = model_specs_usable(project=schedule.project).filter(name=name).first() \
            if name else None
        if name and schedule.base_model is None:
            raise Invalid(f"no active model named '{name}'", field="base_model")


class TrainingScheduleListApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=TrainingScheduleOutput(many=True))
    def get(self, request, project_id: int):
        schedules = TrainingSchedule.objects.filter(project=self.project) \
            .select_related("base_model").order_by("kind")
        return Response(TrainingScheduleOutput(schedules, many=True).data)

    @extend_schema(request=TrainingScheduleInput, responses={201: TrainingScheduleOutput})
    def post(self, request, project_id: int):
        project = self.project
        data = TrainingScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if TrainingSchedule.objects.filter(project=project, kind=values["kind"]).exists():
            raise Conflict(f"the project has a {values['kind']} schedule: change that one", field="kind")
        schedule = TrainingSchedule(project=project, kind=values["kind"])
        _apply(schedule, values)
        schedule_services.training_schedule_save(schedule=schedule, actor=request.user, via="api")
        return Response(TrainingScheduleOutput(schedule).data, status=status.HTTP_201_CREATED)


class TrainingScheduleDetailApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=TrainingScheduleOutput)
    def get(self, request, project_id: int, schedule_id: int):
        return Response(TrainingScheduleOutput(_schedule(self.project, schedule_id)).data)

    @extend_schema(request=TrainingScheduleInput, responses=TrainingScheduleOutput)
    def patch(self, request, project_id: int, schedule_id: int):
        schedule = _schedule(self.project, schedule_id)
        data = TrainingScheduleInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values.get("kind", schedule.kind) != schedule.kind:
            raise Invalid("a schedule's kind is fixed: create one of the other kind", field="kind")
        _apply(schedule, values)
        schedule_services.training_schedule_save(schedule=schedule, actor=request.user, via="api")
        return Response(TrainingScheduleOutput(schedule).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, project_id: int, schedule_id: int):
        schedule = _schedule(self.project, schedule_id)
        schedule_services.training_schedule_delete(schedule=schedule, actor=request.user, via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)
