"""Site administration of accounts: superusers issue password-reset links."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.errors import Forbidden
from annotation.services.users import user_by_username, user_password_reset_link


class PasswordResetInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class PasswordResetOutput(serializers.Serializer):
    reset_url = serializers.CharField(help_text="Give it to the user; it sets a password once.")
    expires_at = serializers.DateTimeField()


class PasswordResetApi(APIView):
    """Disable a user's password, sessions and tokens and return a one-time link
    that lets them choose a new password (superusers only)."""

    @extend_schema(request=PasswordResetInput, responses={201: PasswordResetOutput})
    def post(self, request):
        # Checked before the lookup: no one else learns which usernames exist.
        if not request.user.is_superuser:
            raise Forbidden("Only site administrators reset passwords.")
        data = PasswordResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_by_username(data.validated_data["username"])
        link = user_password_reset_link(actor=request.user, user=user)
        return Response(PasswordResetOutput({"reset_url": request.build_absolute_uri(link.path),
                                             "expires_at": link.expires_at}).data,
                        status=status.HTTP_201_CREATED)
