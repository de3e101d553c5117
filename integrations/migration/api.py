"""Migration endpoints (admins and engineers, like the other imports): Label
Studio and Argilla uploads, all or nothing (a 400 names the line and field and
nothing was written), and the Label Studio JSON export as a download."""

import json
import tempfile
from pathlib import Path

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView
from integrations.migration import services
from integrations.migration.argilla import ArgillaMapping
from integrations.migration.uploads import MAX_UPLOAD_BYTES, too_large, upload_save, zip_unpack


def _declared_size_check(request) -> None:
    # Refuse by the declared length before the body is parsed and spooled.
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_UPLOAD_BYTES + 64 * 1024:
        raise too_large()


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())



class MigrationImportOutput(serializers.Serializer):
    """What an import from another tool created (the raw import's counts)."""

    format = serializers.CharField()
    created = serializers.IntegerField(help_text="Items created.")
    skipped = serializers.IntegerField(help_text="Items already in the project or repeated.")
    prompts_created = serializers.IntegerField()
    annotations = serializers.IntegerField(help_text="Labels created.")
    annotations_skipped = serializers.IntegerField(help_text="Labels skipped.")

class LabelStudioImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="Label Studio's JSON export (*.json).")
    relabel = serializers.BooleanField(default=False, help_text="Also queue the items for more labels.")


class ArgillaImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="A Parquet file, or a *.zip of a datasets folder "
                                           "(save_to_disk) or of a Hub-layout folder.")
    prompt_field = serializers.CharField(default="prompt", max_length=200)
    response_fields = serializers.CharField(
        default="", allow_blank=True, max_length=2000,
        help_text="Comma-separated, in canonical order; default: the ranking question's fields response*.")
    ranking_question = serializers.CharField(default="", allow_blank=True, max_length=200)
    rating_questions = serializers.CharField(
        default="", allow_blank=True, max_length=2000,
        help_text="Comma-separated, one per response field, instead of a ranking question.")
    relabel = serializers.BooleanField(default=False)


class LabelStudioImportApi(ProjectApiView):
    parser_classes = [MultiPartParser, FormParser]
    project_need = access.CURATE

    @extend_schema(request={"multipart/form-data": LabelStudioImportInput},
                   responses={201: MigrationImportOutput})
    def post(self, request, project_id: int):
        project = self.project
        _declared_size_check(request)
        data = LabelStudioImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        with tempfile.TemporaryDirectory(prefix="palate-ls-") as folder:
            path = upload_save(data.validated_data["file"], Path(folder), (".json",))
            result = services.label_studio_import(project=project, raw=path.read_bytes(), actor=request.user,
                                                  relabel=data.validated_data["relabel"])
        return Response(MigrationImportOutput(result.as_dict()).data, status=status.HTTP_201_CREATED)


class ArgillaImportApi(ProjectApiView):
    parser_classes = [MultiPartParser, FormParser]
    project_need = access.CURATE

    @extend_schema(request={"multipart/form-data": ArgillaImportInput},
                   responses={201: MigrationImportOutput})
    def post(self, request, project_id: int):
        project = self.project
        _declared_size_check(request)
        data = ArgillaImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        mapping = ArgillaMapping(prompt_field=values["prompt_field"],
                                 response_fields=_names(values["response_fields"]),
                                 ranking_question=values["ranking_question"],
                                 rating_questions=_names(values["rating_questions"]))
        with tempfile.TemporaryDirectory(prefix="palate-argilla-") as folder:
            path = upload_save(values["file"], Path(folder), (".parquet", ".zip"))
            if path.suffix == ".zip":
                unpacked = Path(folder) / "unpacked"
                unpacked.mkdir()
                path = zip_unpack(path, unpacked)
            result = services.argilla_import(project=project, path=path, mapping=mapping, actor=request.user,
                                             relabel=values["relabel"])
        return Response(MigrationImportOutput(result.as_dict()).data, status=status.HTTP_201_CREATED)


class LabelStudioExportApi(ProjectApiView):
    """The project's items and labels as a Label Studio JSON export (a download)."""

    project_need = access.CURATE

    @extend_schema(responses={(200, "application/json"): {
        "type": "array", "description": "Label Studio tasks (data, annotations, predictions, meta).",
        "items": {"type": "object", "additionalProperties": True}}})
    def get(self, request, project_id: int):
        project = self.project
        tasks = services.label_studio_tasks(project=project, actor=request.user)
        response = HttpResponse(json.dumps(tasks, ensure_ascii=False), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{project.slug}-label-studio.json"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
