"""Read-only audit API: a project's events for its admins (and superusers),
every event for superusers."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from annotation import access
from annotation.api.base import ProjectApiView, paginated
from annotation.api.pagination import PalatePagination
from annotation.errors import Forbidden
from annotation.validation import id_clean
from audit.models import AuditEvent


class AuditEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None,
                                  help_text="The username now (a pseudonym once forgotten).")
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    project_id = serializers.IntegerField(allow_null=True)
    details = serializers.DictField()
    ip = serializers.SerializerMethodField(help_text="Shown to superusers only.")

    def get_ip(self, event) -> str | None:
        return event.ip if self.context["request"].user.is_superuser else None


FILTERS = [OpenApiParameter("action", str, description="Only events with this action."),
           OpenApiParameter("actor_id", int, description="Only events by this user.")]


def _listing(request, view, events):
    action = request.query_params.get("action")
    if action:
        events = events.filter(action=action)
    if "actor_id" in request.query_params:
        events = events.filter(actor_id=id_clean(request.query_params["actor_id"], field="actor_id"))
    return paginated(request, view, events.select_related("actor"), AuditEventOutput,
                     context={"request": request})


class ProjectAuditListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.MANAGE

    @extend_schema(parameters=FILTERS, responses=AuditEventOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        return _listing(request, self, AuditEvent.objects.filter(project_id=project.pk))


class AuditListApi(APIView):
    pagination_class = PalatePagination  # the schema shows the paginated shape

    @extend_schema(parameters=FILTERS, responses=AuditEventOutput(many=True))
    def get(self, request):
        if not request.user.is_superuser:
            raise Forbidden("Only site administrators read the whole audit log.")
        return _listing(request, self, AuditEvent.objects.all())
