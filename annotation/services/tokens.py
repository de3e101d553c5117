"""API tokens: shown once, stored as a SHA-256, compared in constant time."""

import hashlib
import hmac
import secrets
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.models import ApiToken
from audit.services import audit_record


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_create(*, user, name: str = "", actor=None, via: str = "") -> tuple[ApiToken, str]:
    """A new token and its plaintext, which is never stored and shown only now.
    Audited as ``actor`` (the user themself at login; None: the system, and the
    event then names the owner)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=prefix, key_hash=_digest(secret),
        expires_at=timezone.now() + settings.API_TOKEN_TTL,
    )
    owner = {} if actor is not None and actor.pk == user.pk else {"user_id": user.pk}
    audit_record(actor, "token.create", token, via=via, **owner)
    return token, f"{prefix}.{secret}"


def token_authenticate(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    prefix, _, secret = raw.partition(".")
    if not prefix or not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.key_hash, _digest(secret)):
        return None
    now = now or timezone.now()
    if token.revoked_at is not None or token.expires_at <= now or not token.user.is_active:
        return None
    # Throttle the bookkeeping write to once a minute per token.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


@transaction.atomic
def token_revoke(*, token: ApiToken, actor=None, via: str = "") -> None:
    if token.revoked_at is None and ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()):
        audit_record(actor, "token.revoke", token, via=via)
