"""Uploading files into a project (admins and engineers): prompts,
ready-made comparison items, or preference data.

One multipart POST: the file is spooled to a temporary file with its own
suffix (the readers pick JSONL, CSV or Parquet by it) and imported by the
upload service (the data page uses the same) — all or nothing, so a 400
naming the line and field means nothing was written. ``dry_run`` does the
whole import and rolls it back: the counts it answers are the real import's,
with the first rows as they will be stored.

A file above ``PALATE_UPLOAD_ASYNC_BYTES`` is stored and imported by a worker
(annotation/services/upload_jobs.py), dry run or not: the answer is 202 with
the job, whose URL (``…/imports/{job_id}/``) reports its progress, then its
counts — or the line and field of the first bad row, nothing written.
"""

import tempfile
from pathlib import Path

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView
from annotation.datasets.readers import FORMATS
from annotation.errors import Invalid, NotFound
from annotation.models import Role, UploadJob
from annotation.services.upload_jobs import upload_is_large, upload_job_request
from annotation.services.uploads import KINDS, upload_import

# Uploads pass through the web process; larger files go through the command.
MAX_UPLOAD_BYTES = 64 * 2**20
SUFFIXES = sorted({suffix for kind in KINDS.values() for suffix in kind.suffixes})


class ImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL, CSV or Parquet (by the file name's suffix).")
    kind = serializers.ChoiceField(choices=list(KINDS), default="preferences",
                                   help_text="prompts, items (ready-made comparisons) or "
                                             "preferences (pre-labeled data).")
    format = serializers.ChoiceField(choices=FORMATS, default="auto",
                                     help_text="Preferences: trl, hh, scores, raw, or auto (by the "
                                               "first row).")
    relabel = serializers.BooleanField(default=False,
                                       help_text="Preferences: also queue the items for more labels.")
    dry_run = serializers.BooleanField(default=False,
                                       help_text="Check and count, write nothing; with a preview.")


class ImportOutput(serializers.Serializer):
    kind = serializers.CharField()
    format = serializers.CharField()
    rows = serializers.IntegerField(help_text="Rows read from the file.")
    created = serializers.IntegerField(help_text="Items created.")
    skipped = serializers.IntegerField(help_text="Items already in the project or repeated.")
    prompts_created = serializers.IntegerField()
    annotations = serializers.IntegerField(
        help_text="Labels created: one per item for TRL, HH and scored data, as in the file for raw.")
    annotations_skipped = serializers.IntegerField(help_text="Raw format: labels skipped.")
    preview = serializers.ListField(child=serializers.DictField(),
                                    help_text="Dry run: the first rows as they will be stored.")


class ImportJobOutput(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    line = serializers.IntegerField(source="error_line", allow_null=True)
    field = serializers.CharField(source="error_field")

    class Meta:
        model = UploadJob
        fields = ["id", "url", "kind", "format", "dry_run", "file_name", "size_bytes", "status",
                  "progress_rows", "total_rows", "result", "error", "line", "field", "attempt",
                  "created_at", "started_at", "heartbeat_at", "finished_at"]

    def get_url(self, job) -> str:
        return f"/api/projects/{job.project_id}/imports/{job.pk}/"


def _too_large() -> Invalid:
    return Invalid(f"is larger than {MAX_UPLOAD_BYTES // 2**20} MiB; use "
                   "`manage.py import_preferences` for large files", field="file")


class ImportApi(ProjectApiView):
    """Import prompts, comparison items, or preference data as pre-labeled items."""

    parser_classes = [MultiPartParser, FormParser]
    project_need = access.CURATE

    @extend_schema(request={"multipart/form-data": ImportInput},
                   responses={201: ImportOutput, 200: ImportOutput,  # 200: a dry run
                              202: ImportJobOutput})  # a large file: imported by a worker
    def post(self, request, project_id: int):
        project = self.project
        # Refuse by the declared length before the body is parsed and spooled.
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_UPLOAD_BYTES + 64 * 1024:
            raise _too_large()
        data = ImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise _too_large()
        suffix = Path(upload.name or "").suffix.lower()
        if suffix not in SUFFIXES:
            raise Invalid(f"must be named *.jsonl, *.csv or *.parquet, not '{upload.name}'",
                          field="file")
        values = data.validated_data
        allow_gold = access.project_role(user=request.user, project=project) == Role.ADMIN
        if upload_is_large(upload.size):
            job = upload_job_request(
                project=project, upload=upload, suffix=suffix, kind=values["kind"], actor=request.user,
                allow_gold=allow_gold, fmt=values["format"], relabel=values["relabel"],
                dry_run=values["dry_run"])
            job.refresh_from_db()  # its task may have run already (eager Celery)
            return Response(ImportJobOutput(job).data, status=status.HTTP_202_ACCEPTED)
        with tempfile.TemporaryDirectory(prefix="palate-import-") as folder:
            path = Path(folder) / f"upload{suffix}"
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            result = upload_import(
                project=project, path=path, kind=values["kind"], actor=request.user,
                allow_gold=allow_gold, fmt=values["format"], relabel=values["relabel"],
                dry_run=values["dry_run"])
        body = result.as_dict()
        if not values["dry_run"]:
            body["preview"] = []
        return Response(ImportOutput(body).data,
                        status=status.HTTP_200_OK if values["dry_run"] else status.HTTP_201_CREATED)


class ImportJobApi(ProjectApiView):
    """A large upload's import: its progress, then its counts or its first bad row."""

    project_need = access.CURATE

    @extend_schema(responses=ImportJobOutput)
    def get(self, request, project_id: int, upload_id: int):
        job = UploadJob.objects.filter(project=self.project, pk=upload_id).first()
        if job is None:
            raise NotFound("Import not found.")
        return Response(ImportJobOutput(job).data)
