"""REST endpoints of the generation app: thin views over the services.

Jobs are a project's resource for its engineers and admins (CURATE); a
non-member gets 404 for the project and everything under it.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import access
from annotation.api.base import ProjectApiView
from annotation.api.pagination import PalatePagination
from annotation.errors import Forbidden
from annotation.models import Membership
from generation import best_of_n, selectors
from generation.judge import DEFAULT_TEMPLATE
from generation.models import BackendName, GenerationJob, JobKind, JudgePrompt, ModelSpec, Strategy
from generation.services.jobs import (
    generation_job_cancel,
    generation_job_create,
    generation_job_resume,
)
from generation.services.labeling import judge_prompt_set


class GenerationJobInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=JobKind.choices, default=JobKind.GENERATE)
    models = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                   max_length=8, help_text="Model names; default: the default policy.")
    backend = serializers.ChoiceField(choices=BackendName.choices, required=False, allow_blank=True,
                                      default="")
    n = serializers.IntegerField(required=False, min_value=1, max_value=64)
    temperature = serializers.FloatField(required=False)
    top_p = serializers.FloatField(required=False)
    max_tokens = serializers.IntegerField(required=False)
    seed = serializers.IntegerField(required=False, min_value=0)
    stop = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                 max_length=8)
    strategy = serializers.ChoiceField(choices=[*Strategy.choices, best_of_n.CHOICE], required=False,
                                       allow_blank=True, default="")
    max_items_per_prompt = serializers.IntegerField(required=False, min_value=1)
    prompt_ids = serializers.ListField(child=serializers.IntegerField(), required=False,
                                       max_length=100_000)
    max_items = serializers.IntegerField(required=False, min_value=1)


class GenerationJobOutput(serializers.ModelSerializer):
    models = serializers.SerializerMethodField()
    # The API has always called the claim count "attempts" (the model's field is the base's `attempt`).
    attempts = serializers.IntegerField(source="attempt", read_only=True)
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = GenerationJob
        fields = ["id", "project", "kind", "models", "backend", "sampling", "strategy",
                  "max_items_per_prompt", "max_items", "status", "error", "progress_total",
                  "progress_done", "responses_created", "items_created", "annotations_created",
                  "dropped", "tokens_generated", "attempts", "created_by", "created_at",
                  "started_at", "heartbeat_at", "finished_at"]

    def get_models(self, job) -> list[str]:
        return [spec.name for spec in job.model_specs.all()]

    def get_created_by(self, job) -> str | None:
        return job.created_by.username if job.created_by else None


class SampleOutput(serializers.Serializer):
    prompt_id = serializers.IntegerField()
    response_id = serializers.IntegerField(source="pk")
    model_name = serializers.CharField()
    text = serializers.CharField()
    finish_reason = serializers.SerializerMethodField()
    truncated = serializers.SerializerMethodField()

    def get_finish_reason(self, response) -> str:
        return response.metadata.get("finish_reason", "")

    def get_truncated(self, response) -> bool:
        return bool(response.metadata.get("truncated"))


class GenerationJobDetailOutput(GenerationJobOutput):
    samples = serializers.SerializerMethodField()

    class Meta(GenerationJobOutput.Meta):
        fields = [*GenerationJobOutput.Meta.fields, "samples"]

    def get_samples(self, job) -> list[dict]:
        return SampleOutput(selectors.job_samples(job=job), many=True).data


class ModelSpecOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelSpec
        fields = ["name", "role", "backend", "base_model", "source", "endpoint_url", "metadata",
                  "is_active", "created_at"]


class JudgePromptSerializer(serializers.Serializer):
    template = serializers.CharField(max_length=20_000, trim_whitespace=False)
    is_default = serializers.BooleanField(read_only=True)


def _job_kwargs(values: dict) -> dict:
    sampling = {key: values[key] for key in ("temperature", "top_p", "max_tokens", "seed", "stop")
                if key in values}
    return {"kind": values["kind"], "model_names": values.get("models"),
            "backend": values.get("backend", ""), "n": values.get("n"), "sampling": sampling,
            "strategy": values.get("strategy", ""),
            "max_items_per_prompt": values.get("max_items_per_prompt"),
            "prompt_ids": values.get("prompt_ids"), "max_items": values.get("max_items")}


class ModelListApi(APIView):
    """Registered models: for site staff and anyone who curates a project."""

    @extend_schema(responses=ModelSpecOutput(many=True))
    def get(self, request):
        user = request.user
        if not user.is_staff and not Membership.objects.filter(
                user=user, role__in=access.CURATE).exists():
            raise Forbidden("Only engineers and admins see the model registry.")
        return Response(ModelSpecOutput(selectors.model_spec_list_for_user(user=user), many=True).data)


class GenerationJobListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(responses=GenerationJobOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        return self.paginated(selectors.job_list(project=project), GenerationJobOutput)

    @extend_schema(request=GenerationJobInput, responses={201: GenerationJobOutput})
    def post(self, request, project_id: int):
        """Start a job: generate candidates and items, or (kind=label) let a judge label."""
        project = self.project
        data = GenerationJobInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = generation_job_create(project=project, user=request.user,
                                    **_job_kwargs(data.validated_data))
        return Response(GenerationJobOutput(job).data, status=status.HTTP_201_CREATED)


class GenerationJobDetailApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=GenerationJobDetailOutput)
    def get(self, request, project_id: int, job_id: int):
        project = self.project
        job = selectors.job_for_project(project=project, job_id=job_id)
        return Response(GenerationJobDetailOutput(job).data)


class GenerationJobCancelApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(request=None, responses=GenerationJobOutput)
    def post(self, request, project_id: int, job_id: int):
        project = self.project
        job = generation_job_cancel(job=selectors.job_for_project(project=project, job_id=job_id),
                                    actor=request.user)
        return Response(GenerationJobOutput(job).data)


class GenerationJobResumeApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(request=None, responses=GenerationJobOutput)
    def post(self, request, project_id: int, job_id: int):
        project = self.project
        job = generation_job_resume(job=selectors.job_for_project(project=project, job_id=job_id),
                                    actor=request.user)
        return Response(GenerationJobOutput(job).data)


class JudgePromptApi(ProjectApiView):
    """The project's judge prompt for the AI labeler ({prompt}, {response_a}, {response_b})."""

    project_need = access.CURATE

    @extend_schema(responses=JudgePromptSerializer)
    def get(self, request, project_id: int):
        project = self.project
        custom = JudgePrompt.objects.filter(project=project).first()
        return Response({"template": custom.template if custom else DEFAULT_TEMPLATE,
                         "is_default": custom is None})

    @extend_schema(request=JudgePromptSerializer, responses=JudgePromptSerializer)
    def put(self, request, project_id: int):
        project = self.project
        data = JudgePromptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prompt = judge_prompt_set(project=project, template=data.validated_data["template"])
        return Response({"template": prompt.template, "is_default": False})
