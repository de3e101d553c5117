from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.errors import Conflict, Invalid, NotFound
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Membership,
    Project,
    Role,
    default_criteria,
)
from annotation.services.queue import assignment_skip
from annotation.task_types import UnknownTaskType, task_type, task_type_of
from audit.services import audit_record

PROJECT_FIELDS = (
    "name", "slug", "description", "guidelines", "task_type", "num_responses", "overlap",
    "lease_seconds", "criteria", "allow_ties", "gold_rate", "test_fraction", "disagreement_first",
    "consensus_method", "adjudicate_below", "daily_label_cap", "total_label_cap",
)


def criteria_clean(criteria) -> list[dict]:
    if not isinstance(criteria, list):
        raise Invalid("must be a list of {name, label, min, max}", field="criteria")
    cleaned, names = [], set()
    for index, criterion in enumerate(criteria):
        where = f"criteria[{index}]"
        if not isinstance(criterion, dict) or not isinstance(criterion.get("name"), str):
            raise Invalid("each criterion needs a name", field=where)
        name = criterion["name"].strip()
        if not name or not name.replace("_", "").isalnum() or name in names:
            raise Invalid("names must be unique identifiers (letters, digits, _)", field=where)
        low, high = criterion.get("min", 1), criterion.get("max", 7)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or low >= high:
            raise Invalid("min and max must be integers with min < max", field=where)
        names.add(name)
        cleaned.append({"name": name, "label": str(criterion.get("label") or name), "min": low,
                        "max": high})
    return cleaned


def _project_check(project: Project) -> None:
    try:
        task = task_type_of(project)
    except UnknownTaskType as error:
        raise Invalid(str(error), field="task_type") from None
    task.num_responses_check(project.num_responses)
    project.criteria = criteria_clean(project.criteria)
    for cap in ("daily_label_cap", "total_label_cap"):
        value = getattr(project, cap)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise Invalid("must be a whole number of at least 1 (empty: no cap)", field=cap)
    offered = task.measures.consensus
    if project.consensus_method and project.consensus_method not in offered:
        raise Invalid(f"{project.get_task_type_display()} projects offer {', '.join(offered)}",
                      field="consensus_method")
    try:
        project.full_clean(exclude=["created_by"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        if field == "slug" and Project.objects.filter(slug=project.slug).exclude(pk=project.pk).exists():
            raise Conflict(f"a project with slug '{project.slug}' exists", field="slug") from None
        raise Invalid(" ".join(messages), field=None if field == "__all__" else field) from None


@transaction.atomic
def project_create(*, creator, **fields) -> Project:
    """A new project; its creator becomes its first admin."""
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}")
    fields.setdefault("criteria", default_criteria())
    if "task_type" in fields and "num_responses" not in fields:
        try:
            fields["num_responses"] = task_type(fields["task_type"]).default_num_responses()
        except UnknownTaskType as error:
            raise Invalid(str(error), field="task_type") from None
    project = Project(created_by=creator, **fields)
    _project_check(project)
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError:
        raise Conflict(f"a project with slug '{project.slug}' exists", field="slug") from None
    Membership.objects.create(project=project, user=creator, role=Role.ADMIN)
    audit_record(creator, "project.create", project, slug=project.slug,
                 task_type=project.task_type, num_responses=project.num_responses)
    return project


def project_locked_fields(*, project: Project) -> dict[str, str]:
    """Settings that can no longer change, each with the reason shown to the admin.

    Items store exactly K responses and labels were given on one scale, so
    changing the task type or K once items exist, or the criteria once labels
    carry ratings on them, would leave stored rows that no longer fit.
    """
    locked: dict[str, str] = {}
    if project.pk is None:
        return locked
    items = project.items.count()
    if items:
        reason = (f"{items} item{'s' if items != 1 else ''} already compare "
                  f"{project.num_responses} responses")
        locked["task_type"] = locked["num_responses"] = reason
    if Annotation.objects.filter(project=project).exists():
        locked["criteria"] = "labels already carry ratings on these criteria"
    return locked


@transaction.atomic
def project_update(*, project: Project, actor=None, **fields) -> Project:
    """Change settings; a locked field may be sent again only with its current value
    (the settings form sends every field)."""
    unknown = sorted(set(fields) - set(PROJECT_FIELDS))
    if unknown:
        raise Invalid("unknown field", field=unknown[0])
    locked = project_locked_fields(project=project)
    for name in sorted(set(fields) & set(locked)):
        if fields[name] != getattr(project, name):
            raise Conflict(f"cannot change: {locked[name]}", field=name)
    changed = sorted(name for name, value in fields.items() if getattr(project, name) != value)
    for name, value in fields.items():
        setattr(project, name, value)
    _project_check(project)
    project.save()
    if changed:
        audit_record(actor, "project.update", project, fields=changed)
    return project


@transaction.atomic
def project_set_archived(*, project: Project, archived: bool, actor=None) -> Project:
    """Archive (no items are handed out; listed apart) or bring back."""
    if archived == (project.archived_at is not None):
        return project
    project.archived_at = timezone.now() if archived else None
    project.save(update_fields=["archived_at", "updated_at"])
    audit_record(actor, "project.archive" if archived else "project.unarchive", project)
    return project


@transaction.atomic
def project_delete(*, project: Project, actor=None, confirm: str | None = None) -> None:
    """Delete the project and everything in it. ``confirm``, when given (the
    page's typed confirmation), must be the project's slug. The audit event
    outlives the project."""
    if confirm is not None and confirm.strip() != project.slug:
        raise Invalid(f"type the project's slug '{project.slug}' to delete it", field="confirm")
    audit_record(actor, "project.delete", project, slug=project.slug)
    project.delete()


@transaction.atomic
def membership_set(*, project: Project, username: str, role: str, actor=None
                   ) -> tuple[Membership, bool]:
    """Add a user to the project or change their role (audited)."""
    if role not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}", field="role")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound("No active user with that username.", field="username")
    existing = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if existing is not None and existing.role != role:
        return membership_change_role(membership=existing, role=role, actor=actor), False
    if existing is not None:
        return existing, False
    membership = Membership.objects.create(project=project, user=user, role=role)
    audit_record(actor, "membership.add", membership, user_id=user.pk, role=role)
    return membership, True


@transaction.atomic
def membership_remove(*, membership: Membership, actor=None) -> None:
    """Remove a member; the last admin of a project cannot be removed. Their
    live leases go back to the queue at once (not when they expire)."""
    project_admins = Membership.objects.select_for_update().filter(
        project_id=membership.project_id, role=Role.ADMIN
    )
    if membership.role == Role.ADMIN and project_admins.count() <= 1:
        raise Conflict("a project keeps at least one admin", field="role")
    leases = Assignment.objects.filter(project_id=membership.project_id, labeler_id=membership.user_id,
                                       status=AssignmentStatus.LEASED).order_by("pk")
    for lease in leases:
        assignment_skip(assignment=lease)
    target = ("annotation.membership", membership.pk)
    user_id, role, project_id = membership.user_id, membership.role, membership.project_id
    membership.delete()
    audit_record(actor, "membership.remove", target, project=project_id, user_id=user_id, role=role)


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor=None) -> Membership:
    if role not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}", field="role")
    admins = Membership.objects.select_for_update().filter(
        project_id=membership.project_id, role=Role.ADMIN
    )
    if membership.role == Role.ADMIN and role != Role.ADMIN and admins.count() <= 1:
        raise Conflict("a project keeps at least one admin", field="role")
    previous = membership.role
    if previous == role:
        return membership
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(actor, "membership.role_change", membership, user_id=membership.user_id,
                 role=role, previous_role=previous)
    return membership
