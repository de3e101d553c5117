"""Deletions made in the Django admin leave an audit event, one per object,
whether one object is deleted from its page or many by the bulk "delete
selected" action.

Django logs a bulk deletion of several objects with bulk_create, which sends no
signal, so audit.receivers alone would miss it. A ModelAdmin built on
AuditedDeleteAdmin deletes each object through ``delete_one``: by default it
records "admin.delete" on the object (its project included) and deletes it;
an admin whose model has a deleting service overrides ``delete_one`` to call
it with the admin user as actor, so the event is the service's own. Models
whose admin does this are listed in ``SELF_AUDITED``; the receiver skips their
deletion log entries, so nothing is recorded twice.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction

from audit.services import audit_record

# "app_label.model" of each model whose admin records its own deletions.
SELF_AUDITED: set[str] = set()


class AuditedDeleteAdmin(admin.ModelAdmin):
    # Errors a deleting service raises to refuse (annotation's DomainError,
    # which this lower layer cannot import): shown to the admin, the object kept.
    refusals: tuple[type[Exception], ...] = ()

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        SELF_AUDITED.add(model._meta.label_lower)

    def delete_one(self, request, obj) -> None:
        """Delete ``obj`` and record it; override to call the owning service."""
        audit_record(request.user, "admin.delete", obj, via="admin")
        obj.delete()

    def _delete(self, request, obj) -> None:
        try:
            with transaction.atomic():
                self.delete_one(request, obj)
        except self.refusals as error:
            self.message_user(request, f"{obj}: not deleted ({error})", messages.ERROR)

    def delete_model(self, request, obj):
        self._delete(request, obj)

    def delete_queryset(self, request, queryset):
        # Object by object, each with its event and its service's checks: one
        # refused leaves the others deleted and says why.
        for obj in queryset.order_by("pk"):
            self._delete(request, obj)
