"""The team through the API: invite links and member progress (project
admins), and accounts (site admins: create, list, deactivate). The same
services as the team page."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import access
from annotation.api.base import ProjectApiView, paginated
from annotation.api.pagination import PalatePagination
from annotation.errors import Forbidden, NotFound
from annotation.models import Invite, Role
from annotation.services import invites as invite_services
from annotation.services.users import user_create, user_deactivate
from annotation.team_progress import team_progress


class InviteInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, default=Role.LABELER)
    max_uses = serializers.IntegerField(default=1, min_value=1, max_value=invite_services.MAX_USES,
                                        help_text="1 for a single-use link.")
    days = serializers.IntegerField(default=7, min_value=1, max_value=invite_services.MAX_DAYS)


class InviteOutput(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()

    class Meta:
        model = Invite
        fields = ["id", "role", "max_uses", "uses", "expires_at", "revoked_at", "created_at", "state"]

    def get_state(self, invite) -> str:
        return invite_services.invite_state(invite)


class InviteCreatedOutput(InviteOutput):
    url = serializers.CharField(help_text="Shown once: give it to the people you invite.")

    class Meta(InviteOutput.Meta):
        fields = [*InviteOutput.Meta.fields, "url"]


class InviteListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.MANAGE

    @extend_schema(responses=InviteOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        return paginated(request, self, Invite.objects.filter(project=project), InviteOutput)

    @extend_schema(request=InviteInput, responses={201: InviteCreatedOutput})
    def post(self, request, project_id: int):
        project = self.project
        data = InviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        invite, secret = invite_services.invite_create(project=project, actor=request.user,
                                                       **data.validated_data)
        invite.url = request.build_absolute_uri(f"/invite/{secret}/")
        return Response(InviteCreatedOutput(invite).data, status=status.HTTP_201_CREATED)


class InviteDetailApi(ProjectApiView):
    project_need = access.MANAGE

    @extend_schema(responses={200: InviteOutput})
    def delete(self, request, project_id: int, invite_id: int):
        """Revoke the link (the row stays, for the record)."""
        project = self.project
        invite = Invite.objects.filter(project=project, pk=invite_id).first()
        if invite is None:
            raise NotFound("Invite not found.")
        invite = invite_services.invite_revoke(invite=invite, actor=request.user)
        return Response(InviteOutput(invite).data)


class TeamProgressApi(ProjectApiView):
    """Per member: labels today / this week / total, median seconds per item,
    agreement with consensus, gold accuracy, what remains for them."""

    project_need = access.MANAGE

    @extend_schema(responses={200: dict})
    def get(self, request, project_id: int):
        project = self.project
        rows = team_progress(project=project, sort=request.query_params.get("sort", "username"))
        return Response({"members": [row.as_dict() for row in rows]})


class UserInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(required=False, allow_blank=True, max_length=256,
                                     help_text="Omit to have the user set one by a reset link.")
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_active = serializers.BooleanField()
    is_superuser = serializers.BooleanField()
    date_joined = serializers.DateTimeField()


def _site_admin(request) -> None:
    # Checked before any lookup: no one else learns which usernames exist.
    if not request.user.is_superuser:
        raise Forbidden("Only site administrators manage accounts.")


class UserListApi(APIView):
    pagination_class = PalatePagination  # the schema shows the paginated shape

    @extend_schema(responses=UserOutput(many=True))
    def get(self, request):
        _site_admin(request)
        users = get_user_model().objects.order_by("username")
        if request.query_params.get("is_active") in ("true", "false"):
            users = users.filter(is_active=request.query_params["is_active"] == "true")
        return paginated(request, self, users, UserOutput)

    @extend_schema(request=UserInput, responses={201: UserOutput})
    def post(self, request):
        _site_admin(request)
        data = UserInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_create(actor=request.user, **data.validated_data)
        return Response(UserOutput(user).data, status=status.HTTP_201_CREATED)


class UserDeactivateApi(APIView):
    @extend_schema(request=None, responses={200: UserOutput})
    def post(self, request, user_id: int):
        _site_admin(request)
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None:
            raise NotFound("User not found.")
        return Response(UserOutput(user_deactivate(actor=request.user, user=user)).data)
