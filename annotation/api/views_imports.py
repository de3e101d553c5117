"""Uploading preference data into a project (admins and engineers).

One multipart POST: the file is spooled to a temporary file with its own
suffix (the readers pick JSONL or Parquet by it) and imported by the same
service as `manage.py import_preferences` — all or nothing, so a 400 naming
the line and field means nothing was written.
"""

import tempfile
from pathlib import Path

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import access
from annotation.datasets.readers import FORMATS
from annotation.errors import Invalid
from annotation.services.preference_import import preferences_import_file

# Uploads pass through the web process; larger files go through the command.
MAX_UPLOAD_BYTES = 64 * 2**20
SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet")


class ImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL or Parquet (by the file name's suffix).")
    format = serializers.ChoiceField(choices=FORMATS, default="auto",
                                     help_text="trl, hh, scores, raw, or auto (by the first row).")
    relabel = serializers.BooleanField(default=False,
                                       help_text="Also queue the items for more labels.")


class ImportOutput(serializers.Serializer):
    format = serializers.CharField()
    created = serializers.IntegerField(help_text="Items created.")
    skipped = serializers.IntegerField(help_text="Items already in the project or repeated.")
    prompts_created = serializers.IntegerField()
    annotations = serializers.IntegerField(
        help_text="Labels created: one per item for TRL, HH and scored data, as in the file for raw.")
    annotations_skipped = serializers.IntegerField(help_text="Raw format: labels skipped.")


def _too_large() -> Invalid:
    return Invalid(f"is larger than {MAX_UPLOAD_BYTES // 2**20} MiB; use "
                   "`manage.py import_preferences` for large files", field="file")


class ImportApi(APIView):
    """Import preference data as pre-labeled items (TRL, HH, scored or raw)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": ImportInput}, responses={201: ImportOutput})
    def post(self, request, project_id: int):
        project = access.project_for_user(user=request.user, project_id=project_id,
                                          need=access.CURATE)
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
            raise Invalid(f"must be named *.jsonl or *.parquet, not '{upload.name}'", field="file")
        with tempfile.TemporaryDirectory(prefix="palate-import-") as folder:
            path = Path(folder) / f"upload{suffix}"
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            result = preferences_import_file(project=project, path=path,
                                             fmt=data.validated_data["format"],
                                             relabel=data.validated_data["relabel"])
        return Response(ImportOutput(result.as_dict()).data, status=status.HTTP_201_CREATED)
