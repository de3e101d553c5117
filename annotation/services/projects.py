from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotation.errors import Conflict, Invalid, NotFound
from annotation.models import Membership, Project, Role, TaskType, default_criteria
from annotation.task_measures import task_measures

PROJECT_FIELDS = (
    "name", "slug", "description", "guidelines", "task_type", "num_responses", "overlap",
    "lease_seconds", "criteria", "allow_ties", "gold_rate", "test_fraction", "disagreement_first",
    "consensus_method", "adjudicate_below",
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
    if project.task_type == TaskType.PAIRWISE and project.num_responses != 2:
        raise Invalid("pairwise projects compare exactly 2 responses", field="num_responses")
    if project.task_type == TaskType.RANKING and project.num_responses < 3:
        raise Invalid("ranking projects compare 3 or more responses", field="num_responses")
    project.criteria = criteria_clean(project.criteria)
    offered = task_measures(project.task_type).consensus
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
    if fields.get("task_type") == TaskType.RANKING and "num_responses" not in fields:
        fields["num_responses"] = 4
    project = Project(created_by=creator, **fields)
    _project_check(project)
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError:
        raise Conflict(f"a project with slug '{project.slug}' exists", field="slug") from None
    Membership.objects.create(project=project, user=creator, role=Role.ADMIN)
    return project


@transaction.atomic
def project_update(*, project: Project, **fields) -> Project:
    locked = {"task_type", "num_responses"}
    if locked & set(fields) and project.items.exists():
        raise Conflict("task type and response count are fixed once items exist",
                       field=sorted(locked & set(fields))[0])
    for name, value in fields.items():
        if name not in PROJECT_FIELDS:
            raise Invalid("unknown field", field=name)
        setattr(project, name, value)
    _project_check(project)
    project.save()
    return project


def membership_set(*, project: Project, username: str, role: str) -> tuple[Membership, bool]:
    """Add a user to the project or change their role."""
    if role not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}", field="role")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound("No active user with that username.", field="username")
    membership, created = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership, created


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member; the last admin of a project cannot be removed."""
    project_admins = Membership.objects.select_for_update().filter(
        project_id=membership.project_id, role=Role.ADMIN
    )
    if membership.role == Role.ADMIN and project_admins.count() <= 1:
        raise Conflict("a project keeps at least one admin", field="role")
    membership.delete()


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}", field="role")
    admins = Membership.objects.select_for_update().filter(
        project_id=membership.project_id, role=Role.ADMIN
    )
    if membership.role == Role.ADMIN and role != Role.ADMIN and admins.count() <= 1:
        raise Conflict("a project keeps at least one admin", field="role")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership
