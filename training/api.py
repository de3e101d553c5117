"""REST API for training runs: thin views over training.services.

Admins and engineers of a project (access.CURATE) see and start its runs; a
labeler gets 403 and a non-member 404, whether or not the run exists.
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView
from annotation.api.pagination import PalatePagination
from annotation.errors import NotFound
from training import selectors
from training.models import RunKind, TrainingRun
from training.services import runs as run_services

# ----- shapes -----


class TrainingRunInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RunKind.choices, default=RunKind.REWARD)
    snapshot_id = serializers.IntegerField(required=False, allow_null=True, default=None,
                                           help_text="Empty: build a fresh snapshot of the labels first.")
    base_model = serializers.CharField(
        required=False, allow_blank=True, default="",
        help_text="A registered model's name; empty: the default reward backbone (reward) or "
                  "policy (dpo, sft).")
    hyperparameters = serializers.DictField(
        required=False, default=dict,
        help_text="Fields of training.reward.config.RewardConfig (kind reward) or "
                  "training.policy.config.PolicyConfig (kinds dpo and sft: loss, beta, label_smoothing, "
                  "simpo_gamma, rpo_alpha, kto_*, lora, …); checked per kind, errors name the field.")
    resources = serializers.DictField(
        required=False, default=dict,
        help_text="training.distributed.resources.Resources: strategy (single, ddp, fsdp), "
                  "processes_per_node, nodes, master_addr/master_port (multi-node), gpu_memory_gb (per GPU: "
                  "the memory "
                  "planner refuses a run that will not fit). Empty: one process.")


class TrainingRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    snapshot = serializers.SerializerMethodField()
    base_model = serializers.CharField(source="base_model.name")
    hyperparameters = serializers.DictField()
    resources = serializers.DictField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    progress = serializers.SerializerMethodField()
    eta_at = serializers.DateTimeField(allow_null=True)
    eta_seconds = serializers.SerializerMethodField()
    device = serializers.CharField()
    worker_id = serializers.CharField()
    attempt = serializers.IntegerField()
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    timings = serializers.DictField()
    results = serializers.DictField()
    error = serializers.CharField()
    artifacts_dir = serializers.CharField()
    output_model = serializers.CharField(source="output_model.name", allow_null=True, default=None)
    is_active = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_snapshot(self, run) -> dict:
        s = run.snapshot
        return {"id": s.pk, "version": s.version, "content_hash": s.content_hash, "counts": s.counts}

    def get_progress(self, run) -> float:
        return round(run.step / run.total_steps, 4) if run.total_steps else 0.0

    def get_eta_seconds(self, run) -> float | None:
        if run.eta_at is None:
            return None
        return max(0.0, round((run.eta_at - timezone.now()).total_seconds(), 1))


class TrainingRunDetailOutput(TrainingRunOutput):
    metrics = serializers.SerializerMethodField(
        help_text='{"train": [{"step": …, "loss": …, …}], "eval": […]}: the time series, step order.')
    artifacts = serializers.SerializerMethodField()

    def get_metrics(self, run) -> dict:
        return selectors.training_run_metrics(run=run)

    def get_artifacts(self, run) -> list[dict]:
        return selectors.training_run_artifacts(run=run)


# ----- views -----


def _run(project, run_id) -> TrainingRun:
    run = selectors.training_run_list(project=project).filter(pk=run_id).first()
    if run is None:
        raise NotFound("Training run not found.")
    return run


class TrainingRunListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(responses=TrainingRunOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        runs = selectors.training_run_list(project=project, status=request.query_params.get("status"))
        return self.paginated(runs, TrainingRunOutput)

    @extend_schema(request=TrainingRunInput, responses={201: TrainingRunDetailOutput})
    def post(self, request, project_id: int):
        project = self.project
        data = TrainingRunInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        run = run_services.training_run_create(
            project=project, kind=values["kind"], snapshot_id=values["snapshot_id"],
            base_model=values["base_model"] or None, hyperparameters=values["hyperparameters"],
            resources=values["resources"] or None, created_by=request.user, via="api")
        run = selectors.training_run_list(project=project).get(pk=run.pk)
        return Response(TrainingRunDetailOutput(run).data, status=status.HTTP_201_CREATED)


class TrainingRunDetailApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=TrainingRunDetailOutput)
    def get(self, request, project_id: int, run_id: int):
        return Response(TrainingRunDetailOutput(_run(self.project, run_id)).data)


class TrainingRunCancelApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(request=None, responses=TrainingRunOutput)
    def post(self, request, project_id: int, run_id: int):
        run = run_services.training_run_cancel(run=_run(self.project, run_id), actor=request.user,
                                               via="api")
        return Response(TrainingRunOutput(run).data)


class TrainingRunResumeApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(request=None, responses=TrainingRunOutput)
    def post(self, request, project_id: int, run_id: int):
        run = run_services.training_run_resume(run=_run(self.project, run_id), actor=request.user,
                                               via="api")
        return Response(TrainingRunOutput(run).data)


class TrainingRunActivateApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(request=None, responses=TrainingRunOutput)
    def post(self, request, project_id: int, run_id: int):
        run = run_services.training_run_activate(run=_run(self.project, run_id), actor=request.user,
                                                 via="api")
        return Response(TrainingRunOutput(run).data)
