"""Accounts: admin-issued password resets and forgetting a user.

Password reset. Only superusers issue reset links: a link is a takeover of
the account for whoever holds it, and a project admin could otherwise take
over someone who is admin of other projects (or a superuser). Issuing a link
disables the old password at once (the account may be compromised), ends the
user's sessions (Django ties a session to the password hash) and revokes
their API tokens. The link sets a new password once: Django's token is a hash
over the password hash and last login, so it dies with the first use, and it
expires after PASSWORD_RESET_TIMEOUT.

Forgetting. The user's annotations stay (datasets and agreement statistics
depend on them) under a pseudonym; everything that names the person goes:
username, e-mail, names, password, tokens, memberships, live leases, and the
IP addresses in the audit log. The pseudonym is the same one exports use, so
existing datasets keep matching.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from annotation.datasets.rows import labeler_pseudonym
from annotation.errors import Conflict, Forbidden, Invalid, NotFound
from annotation.models import ApiToken, Assignment, AssignmentStatus, DatasetSnapshot, Membership, Role
from annotation.services.queue import assignment_skip
from annotation.services.tokens import token_revoke
from audit.services import audit_forget_addresses, audit_record

FORGOTTEN_PREFIX = "forgotten-"


@dataclass(frozen=True)
class ResetLink:
    path: str  # /reset/<uid>/<token>/; prefix the site's origin to mail it
    expires_at: datetime


def user_by_username(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound("No user with that username.", field="username")
    return user


def _tokens_revoke(user, actor) -> int:
    live = list(ApiToken.objects.filter(user=user, revoked_at__isnull=True))
    for token in live:
        token_revoke(token=token, actor=actor)
    return len(live)


@transaction.atomic
def user_password_reset_link(*, actor, user) -> ResetLink:
    """A one-time link that lets ``user`` choose a new password; see the module
    docstring for who may ask and what it switches off. ``actor`` None is the
    command line (an operator with shell access)."""
    if actor is not None and not actor.is_superuser:
        raise Forbidden("Only site administrators reset passwords.")
    if not user.is_active:
        raise Conflict("this account is inactive (or was forgotten); activate it first",
                       field="username")
    user.set_unusable_password()
    user.save(update_fields=["password"])
    revoked = _tokens_revoke(user, actor)
    # Made after the password changed: the token hashes the new (unusable) one.
    token = default_token_generator.make_token(user)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    audit_record(actor, "user.password_reset", user, tokens_revoked=revoked)
    return ResetLink(
        path=reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token}),
        expires_at=timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT))


def _snapshot_filters_rename(*, old: str, new: str) -> int:
    """Snapshots that excluded this labeler by name keep excluding them, now by
    pseudonym: their filters stop naming the person, their content is unchanged."""
    changed = 0
    # Filtered here, not in SQL: JSON containment is PostgreSQL-only and
    # snapshots are few.
    for snapshot in DatasetSnapshot.objects.only("pk", "filters").order_by("pk"):
        if old not in (snapshot.filters or {}).get("exclude_labelers", []):
            continue
        names = sorted({new if name == old else name for name in snapshot.filters["exclude_labelers"]})
        DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
            filters=snapshot.filters | {"exclude_labelers": names})
        changed += 1
    return changed


@transaction.atomic
def user_forget(*, actor, user) -> str:
    """Remove ``user``'s personal data and keep their annotations under a
    pseudonym; returns the new username. Refused for the last admin of a
    project (appoint another first) and for superusers (demote first)."""
    if actor is not None and not actor.is_superuser:
        raise Forbidden("Only site administrators remove users.")
    if user.is_superuser:
        raise Conflict("demote this superuser before removing them", field="username")
    for membership in Membership.objects.select_for_update().filter(user=user, role=Role.ADMIN):
        if not Membership.objects.filter(project_id=membership.project_id, role=Role.ADMIN) \
                .exclude(user=user).exists():
            raise Conflict(f"the last admin of project {membership.project_id}; appoint another first",
                           field="username")
    old_username = user.username
    pseudonym = FORGOTTEN_PREFIX + labeler_pseudonym(user.pk)
    for lease in Assignment.objects.filter(labeler=user, status=AssignmentStatus.LEASED).order_by("pk"):
        assignment_skip(assignment=lease)  # frees the slot for another labeler
    projects = list(Membership.objects.filter(user=user).values_list("project_id", flat=True))
    Membership.objects.filter(user=user).delete()
    revoked = _tokens_revoke(user, actor)
    user.username = pseudonym
    user.email = ""
    user.first_name = ""
    user.last_name = ""
    user.is_active = False
    user.is_staff = False
    user.set_unusable_password()  # also ends every session: they hash the password
    user.save()
    renamed = _snapshot_filters_rename(old=old_username, new=pseudonym)
    audit_forget_addresses(user_id=user.pk)
    audit_record(actor, "user.forget", user, tokens_revoked=revoked, projects=projects,
                 snapshots_renamed=renamed)
    return pseudonym



@transaction.atomic
def user_create(*, actor, username: str, password: str | None = None, email: str = ""):
    """A new active account (site admins; the API). Without a password the
    account cannot log in until a reset link sets one."""
    if actor is not None and not actor.is_superuser:
        raise Forbidden("Only site administrators create users.")
    users = get_user_model()
    username = (username or "").strip()
    try:
        users.username_validator(username)
    except ValidationError as error:
        raise Invalid(" ".join(error.messages), field="username") from None
    if not username or users.objects.filter(username__iexact=username).exists():
        raise Conflict("that username is taken" if username else "choose a username",
                       field="username")
    user = users(username=username, email=(email or "").strip())
    if password:
        try:
            password_validation.validate_password(password, user=user)
        except ValidationError as error:
            raise Invalid(" ".join(error.messages), field="password") from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit_record(actor, "user.create", user, has_password=bool(password))
    return user


@transaction.atomic
def user_deactivate(*, actor, user):
    """Switch an account off: no login, tokens revoked, live leases back to the
    queue. Memberships and labels stay (an admin can switch it on again)."""
    if actor is not None and not actor.is_superuser:
        raise Forbidden("Only site administrators deactivate users.")
    if user.is_superuser:
        raise Conflict("demote this superuser before deactivating them", field="username")
    if not user.is_active:
        return user
    for lease in Assignment.objects.filter(labeler=user, status=AssignmentStatus.LEASED).order_by("pk"):
        assignment_skip(assignment=lease)
    revoked = _tokens_revoke(user, actor)
    user.is_active = False
    user.save(update_fields=["is_active"])
    audit_record(actor, "user.deactivate", user, tokens_revoked=revoked)
    return user
