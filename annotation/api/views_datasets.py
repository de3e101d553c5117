from django.http import FileResponse
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView
from annotation.api.pagination import PalatePagination
from annotation.api.serializers import ExportInput, ExportOutput, SnapshotInput, SnapshotOutput
from annotation.api.views_projects import paginated
from annotation.errors import Conflict, NotFound
from annotation.models import DatasetExport, DatasetSnapshot
from annotation.services.datasets import dataset_snapshot_request
from annotation.services.exports import dataset_export_request, export_archive_path


def _snapshot(project, snapshot_id) -> DatasetSnapshot:
    snapshot = DatasetSnapshot.objects.filter(pk=snapshot_id, project=project).first()
    if snapshot is None:
        raise NotFound("Snapshot not found.")
    return snapshot


def _export(project, export_id) -> DatasetExport:
    export = DatasetExport.objects.select_related("snapshot").filter(
        pk=export_id, snapshot__project=project).first()
    if export is None:
        raise NotFound("Export not found.")
    return export


class SnapshotListApi(ProjectApiView):
    """Dataset snapshots of a project (admins and engineers)."""

    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(responses=SnapshotOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        return paginated(request, self, DatasetSnapshot.objects.filter(project=project),
                         SnapshotOutput)

    @extend_schema(request=SnapshotInput, responses={202: SnapshotOutput})
    def post(self, request, project_id: int):
        project = self.project
        data = SnapshotInput(data=request.data)
        data.is_valid(raise_exception=True)
        snapshot = dataset_snapshot_request(project=project, filters=data.validated_data["filters"],
                                            created_by=request.user)
        return Response(SnapshotOutput(snapshot).data, status=status.HTTP_202_ACCEPTED)


class SnapshotDetailApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=SnapshotOutput)
    def get(self, request, project_id: int, snapshot_id: int):
        project = self.project
        return Response(SnapshotOutput(_snapshot(project, snapshot_id)).data)


class ExportCreateApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(request=ExportInput, responses={202: ExportOutput})
    def post(self, request, project_id: int, snapshot_id: int):
        project = self.project
        snapshot = _snapshot(project, snapshot_id)
        data = ExportInput(data=request.data)
        data.is_valid(raise_exception=True)
        export = dataset_export_request(snapshot=snapshot, fmt=data.validated_data["format"],
                                        style=data.validated_data["style"],
                                        meta=data.validated_data["meta"], created_by=request.user)
        return Response(ExportOutput(export).data, status=status.HTTP_202_ACCEPTED)


class ExportListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(responses=ExportOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        exports = DatasetExport.objects.filter(snapshot__project=project).select_related("snapshot")
        return paginated(request, self, exports, ExportOutput)


class ExportDetailApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=ExportOutput)
    def get(self, request, project_id: int, export_id: int):
        project = self.project
        return Response(ExportOutput(_export(project, export_id)).data)


class ExportDownloadApi(ProjectApiView):
    """The export's zip archive, as an attachment."""

    project_need = access.CURATE

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, project_id: int, export_id: int):
        project = self.project
        export = _export(project, export_id)
        path = export_archive_path(export)
        if path is None:
            raise Conflict(f"the export is {export.status}, not ready to download")
        response = FileResponse(path.open("rb"), as_attachment=True, filename=path.name,
                                 content_type="application/zip")
        response["X-Content-Type-Options"] = "nosniff"
        return response
