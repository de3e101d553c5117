"""Recording audit events: one plain function that every call site uses."""

from django.db import models

from audit.context import client_ip
from audit.models import AuditEvent


def _target(target) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, "" if target.pk is None else str(target.pk)
    kind, pk = target  # ("app.model", id) for objects already gone
    return kind, "" if pk is None else str(pk)


def _project_id(target, project) -> int | None:
    if project is not None:
        return project if isinstance(project, int) else project.pk
    if isinstance(target, models.Model):
        if target._meta.label_lower == "annotation.project":
            return target.pk
        return getattr(target, "project_id", None)
    return None


def audit_record(actor, action: str, target, project=None, **details) -> AuditEvent:
    """Append one event. ``actor`` is a user or None (the system); ``target`` a
    model instance or an ``("app.model", id)`` pair; ``project`` defaults to the
    target's own. ``details`` must be JSON-serializable and hold no names or
    e-mail addresses (ids instead): see AuditEvent.details."""
    if not details.get("via", True):
        del details["via"]  # services pass the entry point they were called from, when told one
    target_type, target_id = _target(target)
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor_id=actor_id, action=action, target_type=target_type, target_id=target_id,
        project_id=_project_id(target, project), details=details, ip=client_ip())


def audit_forget_addresses(*, user_id: int) -> int:
    """Blank the IP addresses recorded for a user's own actions (the right to be
    forgotten): the one change the append-only log accepts, made by an explicit
    call past the queryset guard."""
    rows = AuditEvent.objects.filter(actor_id=user_id, ip__isnull=False)
    return models.QuerySet.update(rows, ip=None)
