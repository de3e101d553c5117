"""The OpenID Connect authentication backend: mozilla-django-oidc's code flow
(state and nonce in the session, the code exchanged at the token endpoint, the
ID token's RS256 signature checked against the provider's JWKS) plus:

- the ID token's issuer (when OIDC_OP_ISSUER is set), audience (our client id)
  and expiry are checked, and userinfo must describe the same subject;
- a user is found by (issuer, subject) in ``OidcIdentity``, never by e-mail,
  so an e-mail claim cannot sign in as an existing local account;
- the group claim sets project roles (``roles``) at every sign-in.
"""

from __future__ import annotations

import re
import time

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from integrations.models import OidcIdentity
from integrations.oidc.roles import oidc_groups_of, oidc_memberships_sync, oidc_role_map_clean

CLOCK_SKEW_SECONDS = 60


def _issuer(payload: dict) -> str:
    return settings.PALATE_OIDC_ISSUER or str(payload.get("iss") or "")


class PalateOIDCBackend(OIDCAuthenticationBackend):
    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)  # signature and nonce
        issuer = settings.PALATE_OIDC_ISSUER
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("ID token from another issuer")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another client")
        expires = payload.get("exp")
        if not isinstance(expires, (int, float)) or expires < time.time() - CLOCK_SKEW_SECONDS:
            raise SuspiciousOperation("ID token expired")
        if not payload.get("sub"):
            raise SuspiciousOperation("ID token without a subject")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        self.id_payload = payload
        return super().get_or_create_user(access_token, id_token, payload)

    def verify_claims(self, claims):
        # Userinfo about someone else than the ID token's subject is refused (OIDC Core 5.3.2).
        return bool(claims.get("sub")) and claims.get("sub") == self.id_payload.get("sub")

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(
            oidc_identities__issuer=_issuer(self.id_payload), oidc_identities__subject=claims["sub"])

    def describe_user_by_claims(self, claims):
        return f"subject {claims.get('sub')}"

    def _free_username(self, claims) -> str:
        wanted = claims.get("preferred_username") or (claims.get("email") or "").split("@")[0] or "user"
        base = re.sub(r"[^\w.@+-]", "-", str(wanted))[:140] or "user"
        name, n = base, 1
        while self.UserModel.objects.filter(username=name).exists():
            n += 1
            name = f"{base}-{n}"
        return name

    @transaction.atomic
    def create_user(self, claims):
        user = self.UserModel.objects.create_user(
            self._free_username(claims), email=claims.get("email") or "",
            first_name=str(claims.get("given_name") or "")[:150],
            last_name=str(claims.get("family_name") or "")[:150])
        user.set_unusable_password()  # signs in through the provider only
        user.save(update_fields=["password"])
        OidcIdentity.objects.create(user=user, issuer=_issuer(self.id_payload), subject=claims["sub"])
        return self.update_user(user, claims)

    @transaction.atomic
    def update_user(self, user, claims):
        groups = oidc_groups_of(claims, claim=settings.PALATE_OIDC_GROUPS_CLAIM)
        OidcIdentity.objects.filter(user=user, issuer=_issuer(self.id_payload), subject=claims["sub"]).update(
            groups=groups, last_login_at=timezone.now())
        role_map = oidc_role_map_clean(settings.PALATE_OIDC_ROLE_MAP)
        oidc_memberships_sync(user=user, groups=groups, role_map=role_map)
        return user
