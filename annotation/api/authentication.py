from rest_framework import authentication, exceptions

from annotation.services.tokens import token_authenticate


class HashedTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <prefix>.<secret>``; tokens are stored hashed."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed token header.")
        try:
            raw = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Malformed token header.") from None
        token = token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
