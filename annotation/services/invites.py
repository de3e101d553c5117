"""Invite links: a person creates an account and joins a project in one step.

A link is ``/invite/<secret>/``; only a SHA-256 of the secret is stored, and
the link is shown once, when made. A link is single-use or carries a cap on
uses, an expiry and the role it grants. Accepting takes the invite's row lock
and counts the use in the same transaction as the account and the membership,
so two people racing for the last use of a capped link cannot both get in
(and the check constraint ``uses <= max_uses`` backs that up).
"""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.errors import Conflict, Invalid, NotFound
from annotation.models import Invite, Membership, Project, Role
from audit.services import audit_record

MAX_DAYS = 90
MAX_USES = 1000


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def invite_create(*, project: Project, actor, role: str = Role.LABELER, max_uses: int = 1,
                  days: int = 7) -> tuple[Invite, str]:
    """A new invite and its secret (shown once, never stored)."""
    if role not in Role.values:
        raise Invalid(f"must be one of {', '.join(Role.values)}", field="role")
    if isinstance(max_uses, bool) or not isinstance(max_uses, int) or not 1 <= max_uses <= MAX_USES:
        raise Invalid(f"must be from 1 to {MAX_USES}", field="max_uses")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise Invalid(f"must be from 1 to {MAX_DAYS} days", field="days")
    secret = secrets.token_urlsafe(24)
    with transaction.atomic():
        invite = Invite.objects.create(project=project, role=role, key_hash=_digest(secret),
                                       max_uses=max_uses, created_by=actor,
                                       expires_at=timezone.now() + timedelta(days=days))
        audit_record(actor, "invite.create", invite, role=role, max_uses=max_uses, days=days)
    return invite, secret


def invite_revoke(*, invite: Invite, actor) -> Invite:
    with transaction.atomic():
        updated = Invite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now())
        if updated:
            audit_record(actor, "invite.revoke", invite)
    invite.refresh_from_db()
    return invite


def invite_state(invite: Invite) -> str:
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= timezone.now():
        return "expired"
    if invite.uses >= invite.max_uses:
        return "used up"
    return "open"


def invite_for_secret(secret: str, *, lock: bool = False) -> Invite:
    """The open invite of this secret; any other (unknown, revoked, expired,
    used up) is the same NotFound, so the page is no oracle."""
    rows = Invite.objects.select_related("project")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invite = rows.filter(key_hash=_digest(secret or "")).first()
    if invite is None or invite_state(invite) != "open":
        raise NotFound("This invite link is not valid: it may have expired or been used up.")
    return invite


def _use(secret: str) -> Invite:
    invite = invite_for_secret(secret, lock=True)
    Invite.objects.filter(pk=invite.pk).update(uses=invite.uses + 1)
    return invite


@transaction.atomic
def invite_accept_new_user(*, secret: str, username: str, password: str, email: str = ""):
    """Create the account and the membership, and count the use — or nothing."""
    invite = _use(secret)
    users = get_user_model()
    username = (username or "").strip()
    if not username:
        raise Invalid("choose a username", field="username")
    try:
        users.username_validator(username)
    except ValidationError as error:
        raise Invalid(" ".join(error.messages), field="username") from None
    if users.objects.filter(username__iexact=username).exists():
        raise Conflict("that username is taken", field="username")
    candidate = users(username=username, email=(email or "").strip())
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as error:
        raise Invalid(" ".join(error.messages), field="password") from None
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError:
        raise Conflict("that username is taken", field="username") from None
    Membership.objects.create(project=invite.project, user=candidate, role=invite.role)
    audit_record(candidate, "invite.accept", invite, user_id=candidate.pk, role=invite.role,
                 new_account=True)
    return candidate, invite.project


@transaction.atomic
def invite_accept_existing_user(*, secret: str, user):
    """Join with the signed-in account; a member already keeps their role (and
    the link's use is not spent)."""
    invite = invite_for_secret(secret, lock=True)
    membership = Membership.objects.filter(project=invite.project, user=user).first()
    if membership is not None:
        return membership
    _use(secret)
    membership = Membership.objects.create(project=invite.project, user=user, role=invite.role)
    audit_record(user, "invite.accept", invite, user_id=user.pk, role=invite.role,
                 new_account=False)
    return membership
