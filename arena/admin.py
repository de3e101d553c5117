from django.contrib import admin

from arena.models import Arena, Battle, PoolModel, Turn
from audit.admin_deletes import AuditedDeleteAdmin


class PoolInline(admin.TabularInline):
    model = PoolModel
    extra = 1
    autocomplete_fields = ["spec"]


@admin.register(Arena)
class ArenaAdmin(AuditedDeleteAdmin):
    list_display = ["project", "is_enabled", "max_turns", "max_output_tokens", "battles_per_hour",
                    "tokens_per_hour", "join_promoted"]
    inlines = [PoolInline]


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
