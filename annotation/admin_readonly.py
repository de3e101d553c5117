"""Django admin pages that show what the services produced and change nothing.

Snapshots, exports, consensus, adjudications, quality reports, metrics and
evaluations are written by services that keep their invariants (content
hashes, debounce claims, audit events); an edit or delete from the admin would
bypass them, so these pages are for reading. Their API or page is where they
are made.
"""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
