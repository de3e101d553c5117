"""Group claims → project roles.

settings.PALATE_OIDC_ROLE_MAP: ``{group: {project slug: role}}``. The projects
named anywhere in the map are managed by sign-in: at each sign-in the user's
role there becomes the strongest one their groups grant, and a membership no
group grants any more is removed. Projects the map does not name are left to
their admins.
"""

from __future__ import annotations

import logging

from annotation.errors import DomainError
from annotation.models import Membership, Project, Role
from annotation.services.projects import membership_remove, membership_set

logger = logging.getLogger(__name__)

# When two groups grant different roles in one project, the first of these wins.
PRECEDENCE = (Role.ADMIN, Role.ENGINEER, Role.LABELER)


def oidc_role_map_clean(raw) -> dict[str, dict[str, str]]:
    """The map, checked: ValueError names the bad entry."""
    if not isinstance(raw, dict):
        raise ValueError("PALATE_OIDC_ROLE_MAP must be a JSON object {group: {project slug: role}}")
    for group, grants in raw.items():
        if not isinstance(grants, dict):
            raise ValueError(f"PALATE_OIDC_ROLE_MAP[{group!r}] must be an object {{project slug: role}}")
        for slug, role in grants.items():
            if role not in Role.values:
                raise ValueError(f"PALATE_OIDC_ROLE_MAP[{group!r}][{slug!r}]: role must be one of "
                                 f"{', '.join(Role.values)}, not {role!r}")
    return raw


def oidc_groups_of(claims: dict, *, claim: str) -> list[str]:
    """The group claim as a list of strings (a single string is one group)."""
    value = claims.get(claim) or []
    if isinstance(value, str):
        value = [value]
    return sorted({str(group) for group in value if isinstance(group, (str, int))})


def oidc_roles_for(*, groups: list[str], role_map: dict) -> dict[str, str]:
    """project slug → the strongest role the groups grant there."""
    wanted: dict[str, str] = {}
    for group in groups:
        for slug, role in (role_map.get(group) or {}).items():
            current = wanted.get(slug)
            if current is None or PRECEDENCE.index(role) < PRECEDENCE.index(current):
                wanted[slug] = role
    return wanted


def oidc_memberships_sync(*, user, groups: list[str], role_map: dict) -> dict[str, str]:
    """Apply the map to ``user``; returns slug → role (or "removed") for what changed or holds."""
    wanted = oidc_roles_for(groups=groups, role_map=role_map)
    managed = {slug for grants in role_map.values() for slug in grants}
    outcome: dict[str, str] = {}
    for project in Project.objects.filter(slug__in=managed).order_by("pk"):
        role = wanted.get(project.slug)
        try:
            if role is not None:
                membership_set(project=project, username=user.username, role=role, actor=user)
                outcome[project.slug] = role
                continue
            membership = Membership.objects.filter(project=project, user=user).first()
            if membership is not None:
                membership_remove(membership=membership, actor=user)
                outcome[project.slug] = "removed"
        except DomainError as error:  # e.g. the project's last admin stays one
            logger.warning("sign-in of %s: project %s left as it was: %s", user.username, project.slug, error)
    return outcome
