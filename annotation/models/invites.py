from django.conf import settings
from django.db import models

from annotation.models.projects import Project, Role


class Invite(models.Model):
    """A link that lets a person create an account and join a project in one
    step (or join with the account they are signed in with).

    Only a SHA-256 of the link's secret is stored; the link is shown once.
    ``uses`` counts accepted joins and never passes ``max_uses`` (a check
    constraint, and the accept takes the row lock).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LABELER)
    key_hash = models.CharField(max_length=64, unique=True)
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(uses__lte=models.F("max_uses")),
                                   name="invite_uses_within_cap"),
            models.CheckConstraint(condition=models.Q(max_uses__gte=1), name="invite_max_uses_min_1"),
        ]

    def __str__(self) -> str:
        return f"invite {self.pk} to {self.project} as {self.role}"
