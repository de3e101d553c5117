from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: events are appended by the application, never edited here."""

    list_display = ("created_at", "action", "actor", "target_type", "target_id", "project_id", "ip")
    list_filter = ("action", "target_type")
    search_fields = ("action", "target_id")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
