"""The audit log: who did what to which object, appended and never edited.

References to users and projects are kept without database constraints and
with DO_NOTHING, so deleting a project (or a user, from the admin) leaves its
history in place: the log must outlive what it describes.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Audit events are never changed or deleted through the ORM."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events are append-only")

    def delete(self):
        raise AppendOnlyError("audit events are append-only")


class AuditEvent(models.Model):
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                              on_delete=models.DO_NOTHING, db_constraint=False,
                              help_text="Empty for the system (commands, tasks).")
    action = models.CharField(max_length=64, help_text="e.g. membership.add, item.gold_change")
    target_type = models.CharField(max_length=64, help_text="app_label.model of the object")
    target_id = models.CharField(max_length=64, blank=True)
    project = models.ForeignKey("annotation.Project", null=True, blank=True, related_name="+",
                                on_delete=models.DO_NOTHING, db_constraint=False)
    # Ids, roles and flags only: no names or e-mail addresses, so forgetting a
    # user (annotation/services/users.py) leaves nothing personal here but the IP.
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="audit_project_recent"),
            models.Index(fields=["action", "-created_at"], name="audit_action_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}#{self.target_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only")
