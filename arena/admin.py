from django.contrib import admin

from arena.models import Arena, Battle, PoolModel, StreamSlot, Turn
from audit.admin_deletes import AuditedDeleteAdmin
from audit.services import audit_record


class PoolInline(admin.TabularInline):
    model = PoolModel
    extra = 1
    autocomplete_fields = ["spec"]


@admin.register(Arena)
class ArenaAdmin(AuditedDeleteAdmin):
    list_display = ["project", "is_enabled", "max_turns", "max_output_tokens", "battles_per_hour",
                    "tokens_per_hour", "join_promoted"]
    inlines = [PoolInline]

    def save_related(self, request, form, formsets, change):
        # After the pool inline is saved: one event for the form and its pool,
        # as the settings page and the API record one (arena.services.config).
        super().save_related(request, form, formsets, change)
        changed = sorted(form.changed_data + (["pool"] if any(f.has_changed() for f in formsets) else []))
        audit_record(request.user, "arena.configure", form.instance, changed=changed, via="admin")


class TurnInline(admin.TabularInline):
    model = Turn
    extra = 0
    can_delete = False
    readonly_fields = ["index", "user_text", "text_a", "text_b", "tokens_a", "tokens_b", "finish_a",
                       "finish_b", "ttft_a_ms", "ttft_b_ms", "status", "error"]


@admin.register(Battle)
class BattleAdmin(AuditedDeleteAdmin):
    """Recent battles with their flags: filter on "flagged unsafe"."""

    list_display = ["pk", "created_at", "user", "model_a", "model_b", "status", "tokens", "flagged"]
    list_filter = ["status", "annotation__flagged_unsafe", "arena"]
    date_hierarchy = "created_at"
    readonly_fields = ["arena", "user", "model_a", "model_b", "sampling", "status", "error", "tokens",
                       "item", "annotation", "created_at", "finished_at"]
    inlines = [TurnInline]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description="Flagged unsafe")
    def flagged(self, battle):
        return bool(battle.annotation and battle.annotation.flagged_unsafe)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "model_a", "model_b", "annotation")


@admin.register(StreamSlot)
class StreamSlotAdmin(AuditedDeleteAdmin):
    """Streams held now, per generation server. A slot frees itself when its
    battle ends or it expires; deleting one frees it at once (audited)."""

    list_display = ["server", "slot", "battle", "expires_at"]
    list_filter = ["server"]
    readonly_fields = ["server", "slot", "battle", "expires_at"]

    def has_add_permission(self, request):
        return False
