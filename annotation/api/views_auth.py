from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api.serializers import LoginInput, MembershipOutput, TokenOutput
from annotation.errors import NotFound
from annotation.login_throttle import login_wait_of
from annotation.models import ApiToken, Membership
from annotation.services.tokens import token_create, token_revoke


class TokenLoginApi(APIView):
    """Exchange a username and password for an API token (shown once).

    Throttled by the login budget shared with every other way to log in
    (annotation/login_throttle.py, applied in the authentication backend).
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=LoginInput, responses={201: TokenOutput})
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, username=data.validated_data["username"],
                            password=data.validated_data["password"])
        if user is None:
            wait = login_wait_of(request)
            if wait:
                raise Throttled(wait=wait, detail="Too many login attempts; try again later.")
            return Response({"code": "invalid_credentials", "detail": "Wrong username or password."},
                            status=status.HTTP_400_BAD_REQUEST)
        token, plaintext = token_create(user=user, name=data.validated_data["name"], actor=user, via="api")
        return Response(TokenOutput(token).data | {"token": plaintext},
                        status=status.HTTP_201_CREATED)


class TokenListApi(APIView):
    @extend_schema(responses=TokenOutput(many=True))
    def get(self, request):
        tokens = ApiToken.objects.filter(user=request.user)
        return Response(TokenOutput(tokens, many=True).data)


class TokenRevokeApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, token_id: int):
        token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
        if token is None:
            raise NotFound("Token not found.")
        token_revoke(token=token, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request):
        memberships = Membership.objects.filter(user=request.user).select_related("user")
        return Response({
            "id": request.user.pk,
            "username": request.user.username,
            "is_superuser": request.user.is_superuser,
            "memberships": [
                MembershipOutput(m).data | {"project": m.project_id} for m in memberships
            ],
        })
