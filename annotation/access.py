"""Permission-checking lookups: every object is reached through one of these.

A user who is not a member gets NotFound whether or not the object exists, so
the API is no existence oracle. A member whose role lacks the capability gets
Forbidden.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, Subquery

from annotation.errors import Forbidden, NotFound
from annotation.models import Assignment, ComparisonItem, Membership, Project, Prompt, Role

VIEW = frozenset({Role.ADMIN, Role.LABELER, Role.ENGINEER})
MANAGE = frozenset({Role.ADMIN})
LABEL = frozenset({Role.ADMIN, Role.LABELER})
CURATE = frozenset({Role.ADMIN, Role.ENGINEER})


def project_role(*, user: AbstractBaseUser, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    membership = Membership.objects.filter(project=project, user=user).only("role").first()
    return membership.role if membership else None


def project_for_user(*, user: AbstractBaseUser, project_id, need: frozenset = VIEW) -> Project:
    """The project if ``user`` holds one of the ``need`` roles in it (one query)."""
    if not user.is_authenticated:
        raise NotFound("Project not found.")
    try:
        pk = int(project_id)
    except (TypeError, ValueError):
        raise NotFound("Project not found.") from None
    if user.is_superuser:
        project = Project.objects.filter(pk=pk).first()
        if project is None:
            raise NotFound("Project not found.")
        return project
    membership = Membership.objects.select_related("project").filter(project_id=pk, user=user).first()
    if membership is None:
        raise NotFound("Project not found.")
    if membership.role not in need:
        raise Forbidden("Your role in this project does not allow this.")
    return membership.project


def project_can_create(*, user: AbstractBaseUser) -> bool:
    """Site admins, and users granted ``annotation.add_project`` (directly or
    through a group, in the Django admin): the setting that lets others create."""
    return user.is_authenticated and user.has_perm("annotation.add_project")


def projects_for_user(*, user: AbstractBaseUser):
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def assignment_for_labeler(*, user: AbstractBaseUser, assignment_id) -> Assignment:
    """The labeler's own assignment; anyone else's is NotFound.

    The lease outlives a membership change, so the role is checked now (in the
    same query): a labeler removed from the project gets NotFound, one moved to
    a role that cannot label gets Forbidden.
    """
    try:
        pk = int(assignment_id)
    except (TypeError, ValueError):
        raise NotFound("Assignment not found.") from None
    role = Membership.objects.filter(project_id=OuterRef("project_id"), user_id=user.pk)
    assignment = (
        Assignment.objects.select_related("project")
        .annotate(current_role=Subquery(role.values("role")[:1]))
        .filter(pk=pk, labeler_id=user.pk)
        .first()
    )
    if assignment is None or (assignment.current_role is None and not user.is_superuser):
        raise NotFound("Assignment not found.")
    if assignment.current_role not in LABEL and not user.is_superuser:
        raise Forbidden("Your role in this project does not allow this.")
    return assignment


def item_for_user(*, user: AbstractBaseUser, project: Project, item_id) -> ComparisonItem:
    try:
        pk = int(item_id)
    except (TypeError, ValueError):
        raise NotFound("Item not found.") from None
    item = ComparisonItem.objects.filter(pk=pk, project=project).first()
    if item is None:
        raise NotFound("Item not found.")
    return item


def prompt_for_user(*, user: AbstractBaseUser, project: Project, prompt_id) -> Prompt:
    try:
        pk = int(prompt_id)
    except (TypeError, ValueError):
        raise NotFound("Prompt not found.") from None
    prompt = Prompt.objects.filter(pk=pk, project=project).first()
    if prompt is None:
        raise NotFound("Prompt not found.")
    return prompt


def membership_for_admin(*, project: Project, membership_id) -> Membership:
    try:
        pk = int(membership_id)
    except (TypeError, ValueError):
        raise NotFound("Membership not found.") from None
    membership = Membership.objects.select_related("user").filter(pk=pk, project=project).first()
    if membership is None:
        raise NotFound("Membership not found.")
    return membership
