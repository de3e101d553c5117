"""REST API of the training loop and of policy evaluations: thin views over
training.loop.services and training.policy_eval.services.

Admins and engineers of a project (access.CURATE) see and drive its loop; a
labeler gets 403 and a non-member 404, whether or not the object exists.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView
from annotation.api.pagination import PalatePagination
from annotation.errors import Invalid, NotFound
from annotation.services.queue_priority import PRIORITY_MAX, PRIORITY_MIN
from generation.models import ModelSpec
from generation.services.registry import model_specs_usable
from training.loop import services as loop_services
from training.loop.models import LoopRound, LoopSetting
from training.loop.report import loop_round_report
from training.policy_eval import services as eval_services
from training.policy_eval.judges import PROMOTION_CHOICES
from training.policy_eval.models import PolicyEvaluation

# ----- shapes -----

SETTING_FIELDS = ["enabled", "check_every_minutes", "min_interval_hours", "min_new_pairs",
                  "prompts_per_round", "reward_hyperparameters", "dpo_hyperparameters", "eval_config",
                  "win_threshold", "generation_backend", "generation_sampling", "snapshot_filters",
                  "promotion_judge", "ai_judge_enabled", "min_eval_prompts", "allow_few_eval_prompts"]
MODEL_FIELDS = ["base_policy", "reward_base_model", "ai_judge"]


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
    promotion_judge = serializers.ChoiceField(
        required=False, choices=PROMOTION_CHOICES,
        help_text="Whose win rate decides a promotion; never the round's own reward model.")
    ai_judge = serializers.CharField(required=False, allow_blank=True,
                                     help_text="A registered model's name; empty: the registry's judge.")
    ai_judge_enabled = serializers.BooleanField(required=False)
    min_eval_prompts = serializers.IntegerField(required=False, min_value=1, max_value=INT32_MAX)
    allow_few_eval_prompts = serializers.BooleanField(
        required=False, help_text="Project admins only: promote on fewer held-out prompts than the minimum.")


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
    promotion_judge = serializers.CharField()
    ai_judge = serializers.CharField(source="ai_judge.name", allow_null=True, default=None)
    ai_judge_enabled = serializers.BooleanField()
    min_eval_prompts = serializers.IntegerField()
    allow_few_eval_prompts = serializers.BooleanField()
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
    decision_detail = serializers.DictField(help_text="The rule as applied: judge, interval, prompts.")
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


def rounds_for(project):
    return (LoopRound.objects.filter(project=project)
            .select_related("reference_policy", "snapshot", "reward_run__output_model",
                            "dpo_run__output_model", "evaluation__policy", "evaluation__reference",
                            "evaluation__reward_model", "evaluation__snapshot", "generation_job")
            .order_by("-number"))


def _round(project, round_id) -> LoopRound:
    rnd = rounds_for(project).filter(pk=round_id).first()
    if rnd is None:
        raise NotFound("Loop round not found.")
    return rnd


def _evaluation(project, evaluation_id) -> PolicyEvaluation:
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


class LoopSettingApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=LoopSettingOutput)
    def get(self, request, project_id: int):
        setting = loop_services.loop_setting_for(project=self.project)
        return Response(LoopSettingOutput(setting).data)

    @extend_schema(request=LoopSettingInput, responses=LoopSettingOutput)
    def put(self, request, project_id: int):
        project = self.project
        data = LoopSettingInput(data=request.data)
        data.is_valid(raise_exception=True)
        setting = LoopSetting.objects.get(pk=loop_services.loop_setting_for(project=project).pk)
        values = data.validated_data
        for name in SETTING_FIELDS:
            if name in values:
                setattr(setting, name, values[name])
        for name in MODEL_FIELDS:
            if name in values:
                setattr(setting, name, _model(values[name], name, project))
        loop_services.loop_setting_save(setting=setting, actor=request.user, fields=values, via="api")
        return Response(LoopSettingOutput(setting).data)


class LoopRoundListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(responses=LoopRoundOutput(many=True))
    def get(self, request, project_id: int):
        rounds = rounds_for(self.project)
        return self.paginated(rounds, LoopRoundOutput)

    @extend_schema(request=None, responses={201: LoopRoundOutput})
    def post(self, request, project_id: int):
        """Start a round now (whatever the schedule says); a worker runs it."""
        project = self.project
        rnd = loop_services.loop_round_start(project=project, created_by=request.user, via="api")
        return Response(LoopRoundOutput(rounds_for(project).get(pk=rnd.pk)).data,
                        status=status.HTTP_201_CREATED)


class LoopRoundDetailApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=LoopRoundOutput)
    def get(self, request, project_id: int, round_id: int):
        return Response(LoopRoundOutput(_round(self.project, round_id)).data)


class LoopRoundReportApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, project_id: int, round_id: int):
        """The round report: every judge's win rate (raw and length-controlled) with its
        interval and prompt count, KL, length change, the reward model's held-out
        accuracy, the decision and its rule, and diffed policy/reference samples."""
        return Response(loop_round_report(rnd=_round(self.project, round_id)))


class LoopRoundCancelApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(request=None, responses=LoopRoundOutput)
    def post(self, request, project_id: int, round_id: int):
        loop_services.loop_round_cancel(rnd=_round(self.project, round_id), actor=request.user,
                                        via="api")
        return Response(LoopRoundOutput(_round(self.project, round_id)).data)


class PolicyEvaluationDetailApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=EvaluationDetailOutput)
    def get(self, request, project_id: int, evaluation_id: int):
        return Response(EvaluationDetailOutput(_evaluation(self.project, evaluation_id)).data)


class PolicyEvaluationHumanApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses={200: OpenApiTypes.OBJECT})  # a bare DictField fails check --deploy
    def get(self, request, project_id: int, evaluation_id: int):
        """The human win rate from the blind items' labels so far (recomputed now)."""
        evaluation = _evaluation(self.project, evaluation_id)
        return Response(eval_services.human_evaluation_results(evaluation=evaluation))

    @extend_schema(request=HumanEvalInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, project_id: int, evaluation_id: int):
        """Put blind policy-vs-reference items in the labeling queue."""
        evaluation = _evaluation(self.project, evaluation_id)
        data = HumanEvalInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = eval_services.human_evaluation_request(evaluation=evaluation, **data.validated_data,
                                                         actor=request.user, via="api")
        return Response({"items_created": created}, status=status.HTTP_201_CREATED)
