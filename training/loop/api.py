"""REST API of the training loop and of policy evaluations: thin views over
training.loop.services and training.policy_eval.services.

Admins and engineers of a project (access.CURATE) see and drive its loop; a
labeler gets 403 and a non-member 404, whether or not the object exists.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import access
from annotation.api.pagination import PalatePagination
from annotation.errors import Invalid, NotFound
from annotation.services.queue_priority import PRIORITY_MAX, PRIORITY_MIN
from audit.services import audit_record
from generation.models import ModelSpec
from generation.services.registry import model_specs_usable
from training.loop import services as loop_services
from training.loop.models import LoopRound, LoopSetting
from training.policy_eval import services as eval_services
from training.policy_eval.models import PolicyEvaluation

# ----- shapes -----

SETTING_FIELDS = ["enabled", "check_every_minutes", "min_interval_hours", "min_new_pairs",
                  "prompts_per_round", "reward_hyperparameters", "dpo_hyperparameters", "eval_config",
                  "win_threshold", "generation_backend", "generation_sampling", "snapshot_filters"]
MODEL_FIELDS = ["base_policy", "reward_base_model"]


INT32_MAX = 2**31 - 1
MINUTES_A_YEAR = 366 * 24 * 60
HOURS_A_YEAR = 366 * 24


class LoopSettingInput(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    # Upper bounds: the columns are 32-bit integers (a larger value was a 500 on PostgreSQL).
    check_every_minutes = serializers.IntegerField(required=False, min_value=1, max_value=MINUTES_A_YEAR)
    min_interval_hours = serializers.FloatField(required=False, min_value=0, max_value=HOURS_A_YEAR)
    min_new_pairs = serializers.IntegerField(required=False, min_value=0, max_value=INT32_MAX)
    prompts_per_round = serializers.IntegerField(required=False, min_value=1, max_value=INT32_MAX)
    base_policy = serializers.CharField(required=False, allow_blank=True,
                                        help_text="A registered policy's name; empty: the default policy.")
    reward_base_model = serializers.CharField(required=False, allow_blank=True,
                                              help_text="Empty: the default reward backbone.")
    reward_hyperparameters = serializers.DictField(required=False)
    dpo_hyperparameters = serializers.DictField(required=False)
    eval_config = serializers.DictField(required=False)
    win_threshold = serializers.FloatField(required=False)
    generation_backend = serializers.CharField(required=False, allow_blank=True)
    generation_sampling = serializers.DictField(required=False)
    snapshot_filters = serializers.DictField(required=False)


class LoopSettingOutput(serializers.Serializer):
    project_id = serializers.IntegerField()
    enabled = serializers.BooleanField()
    check_every_minutes = serializers.IntegerField()
    min_interval_hours = serializers.FloatField()
    min_new_pairs = serializers.IntegerField()
    prompts_per_round = serializers.IntegerField()
    base_policy = serializers.CharField(source="base_policy.name", allow_null=True, default=None)
    current_policy = serializers.CharField(source="current_policy.name", allow_null=True, default=None)
    reward_base_model = serializers.CharField(source="reward_base_model.name", allow_null=True, default=None)
    reward_hyperparameters = serializers.DictField()
    dpo_hyperparameters = serializers.DictField()
    eval_config = serializers.DictField()
    win_threshold = serializers.FloatField()
    generation_backend = serializers.CharField()
    generation_sampling = serializers.DictField()
    snapshot_filters = serializers.DictField()
    last_checked_at = serializers.DateTimeField(allow_null=True)
    last_message = serializers.CharField()


class EvaluationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    policy = serializers.CharField(source="policy.name")
    reference = serializers.CharField(source="reference.name")
    reward_model = serializers.CharField(source="reward_model.name", allow_null=True, default=None)
    snapshot_version = serializers.IntegerField(source="snapshot.version", allow_null=True, default=None)
    run_id = serializers.IntegerField(allow_null=True)
    config = serializers.DictField()
    results = serializers.DictField()
    human_results = serializers.DictField()
    human_requested_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class EvaluationDetailOutput(EvaluationOutput):
    samples = serializers.ListField(child=serializers.DictField())


class LoopRoundOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    status = serializers.CharField()
    stage = serializers.CharField()
    decision = serializers.CharField()
    decision_reason = serializers.CharField()
    reference_policy = serializers.CharField(source="reference_policy.name")
    snapshot = serializers.SerializerMethodField()
    reward_run_id = serializers.IntegerField(allow_null=True)
    reward_model = serializers.SerializerMethodField()
    dpo_run_id = serializers.IntegerField(allow_null=True)
    policy = serializers.SerializerMethodField()
    evaluation = EvaluationOutput(allow_null=True)
    generation_job_id = serializers.IntegerField(allow_null=True)
    items_created = serializers.IntegerField(source="generation_job.items_created", allow_null=True,
                                             default=None)
    note = serializers.CharField()
    error = serializers.CharField()
    timings = serializers.DictField()
    attempt = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_snapshot(self, rnd) -> dict | None:
        s = rnd.snapshot
        return None if s is None else {"id": s.pk, "version": s.version, "counts": s.counts}

    def get_reward_model(self, rnd) -> str | None:
        run = rnd.reward_run
        return run.output_model.name if run is not None and run.output_model_id else None

    def get_policy(self, rnd) -> str | None:
        run = rnd.dpo_run
        return run.output_model.name if run is not None and run.output_model_id else None


class HumanEvalInput(serializers.Serializer):
    max_items = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    priority = serializers.IntegerField(required=False, default=0, min_value=PRIORITY_MIN,
                                        max_value=PRIORITY_MAX)


# ----- lookups -----


def _curated(request, project_id):
    return access.project_for_user(user=request.user, project_id=project_id, need=access.CURATE)


def rounds_for(project):
    return (LoopRound.objects.filter(project=project)
            .select_related("reference_policy", "snapshot", "reward_run__output_model",
                            "dpo_run__output_model", "evaluation__policy", "evaluation__reference",
                            "evaluation__reward_model", "evaluation__snapshot", "generation_job")
            .order_by("-number"))


def _round(request, project_id, round_id) -> LoopRound:
    rnd = rounds_for(_curated(request, project_id)).filter(pk=round_id).first()
    if rnd is None:
        raise NotFound("Loop round not found.")
    return rnd


def _evaluation(request, project_id, evaluation_id) -> PolicyEvaluation:
    project = _curated(request, project_id)
    evaluation = (PolicyEvaluation.objects.select_related("policy", "reference", "reward_model", "snapshot",
                                                          "project")
                  .filter(project=project, pk=evaluation_id).first())
    if evaluation is None:
        raise NotFound("Policy evaluation not found.")
    return evaluation


def _model(name: str, field: str, project) -> ModelSpec | None:
    if not name:
        return None
    spec = model_specs_usable(project=project).filter(name=name).first()
    if spec is None:
        raise Invalid(f"no active model named '{name}'", field=field)
    return spec


# ----- views -----


class LoopSettingApi(APIView):
    @extend_schema(responses=LoopSettingOutput)
    def get(self, request, project_id: int):
        setting = loop_services.loop_setting_for(project=_curated(request, project_id))
        return Response(LoopSettingOutput(setting).data)

    @extend_schema(request=LoopSettingInput, responses=LoopSettingOutput)
    def put(self, request, project_id: int):
        project = _curated(request, project_id)
        data = LoopSettingInput(data=request.data)
        data.is_valid(raise_exception=True)
        setting = LoopSetting.objects.filter(pk=loop_services.loop_setting_for(project=project).pk).first()
        values = data.validated_data
        for name in SETTING_FIELDS:
            if name in values:
                setattr(setting, name, values[name])
        for name in MODEL_FIELDS:
            if name in values:
                setattr(setting, name, _model(values[name], name, project))
        loop_services.loop_setting_save(setting=setting)
        audit_record(request.user, "training_loop.update", setting, project=project,
                     fields=sorted(values), via="api")
        return Response(LoopSettingOutput(setting).data)


class LoopRoundListApi(APIView):
    pagination_class = PalatePagination  # the schema shows the paginated shape

    @extend_schema(responses=LoopRoundOutput(many=True))
    def get(self, request, project_id: int):
        rounds = rounds_for(_curated(request, project_id))
        paginator = PalatePagination()
        page = paginator.paginate_queryset(rounds, request, view=self)
        return paginator.get_paginated_response(LoopRoundOutput(page, many=True).data)

    @extend_schema(request=None, responses={201: LoopRoundOutput})
    def post(self, request, project_id: int):
        """Start a round now (whatever the schedule says); a worker runs it."""
        project = _curated(request, project_id)
        rnd = loop_services.loop_round_start(project=project, created_by=request.user)
        audit_record(request.user, "training_loop.round_start", rnd, project=project, number=rnd.number,
                     via="api")
        return Response(LoopRoundOutput(rounds_for(project).get(pk=rnd.pk)).data,
                        status=status.HTTP_201_CREATED)


class LoopRoundDetailApi(APIView):
    @extend_schema(responses=LoopRoundOutput)
    def get(self, request, project_id: int, round_id: int):
        return Response(LoopRoundOutput(_round(request, project_id, round_id)).data)


class LoopRoundCancelApi(APIView):
    @extend_schema(request=None, responses=LoopRoundOutput)
    def post(self, request, project_id: int, round_id: int):
        rnd = loop_services.loop_round_cancel(rnd=_round(request, project_id, round_id))
        audit_record(request.user, "training_loop.round_cancel", rnd, number=rnd.number, via="api")
        return Response(LoopRoundOutput(_round(request, project_id, round_id)).data)


class PolicyEvaluationDetailApi(APIView):
    @extend_schema(responses=EvaluationDetailOutput)
    def get(self, request, project_id: int, evaluation_id: int):
        return Response(EvaluationDetailOutput(_evaluation(request, project_id, evaluation_id)).data)


class PolicyEvaluationHumanApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})  # a bare DictField fails check --deploy
    def get(self, request, project_id: int, evaluation_id: int):
        """The human win rate from the blind items' labels so far (recomputed now)."""
        evaluation = _evaluation(request, project_id, evaluation_id)
        return Response(eval_services.human_evaluation_results(evaluation=evaluation))

    @extend_schema(request=HumanEvalInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, project_id: int, evaluation_id: int):
        """Put blind policy-vs-reference items in the labeling queue."""
        evaluation = _evaluation(request, project_id, evaluation_id)
        data = HumanEvalInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = eval_services.human_evaluation_request(evaluation=evaluation, **data.validated_data)
        audit_record(request.user, "policy_evaluation.human_request", evaluation, items=created, via="api")
        return Response({"items_created": created}, status=status.HTTP_201_CREATED)
