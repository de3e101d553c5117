"""Changes made in the Django admin are audited too: each admin LogEntry saved
becomes an event (admin.add / admin.change / admin.delete).

Django writes the entries of a bulk admin action on several objects with
bulk_create, which sends no signal. For deletions the admins of Palate's
models record each object themselves (audit.admin_deletes), so their deletion
entries are skipped here; other bulk actions record through their services.
"""

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.admin_deletes import SELF_AUDITED
from audit.services import audit_record

_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


@receiver(post_save, sender=LogEntry, dispatch_uid="audit-admin-log-entry")
def audit_admin_log_entry(sender, instance: LogEntry, created: bool, **kwargs):
    if not created:
        return
    label = instance.content_type.app_label + "." + instance.content_type.model \
        if instance.content_type_id else "unknown"
    if instance.action_flag == DELETION and label in SELF_AUDITED:
        return  # recorded by the admin's delete (audit.admin_deletes), once per object
    object_id = str(instance.object_id or "")
    # isascii: "²".isdigit() is true, but int() refuses it.
    numeric = object_id.isascii() and object_id.isdigit()
    project = int(object_id) if label == "annotation.project" and numeric else None
    # The object's repr is left out: for a user it is their name.
    audit_record(instance.user, _ACTIONS.get(instance.action_flag, "admin.other"),
                 (label, object_id), project=project,
                 changed=instance.get_change_message()[:500])
