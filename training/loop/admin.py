"""Admin of the loop (imported by training/admin.py): the per-project loop
setting, kept in step with its beat PeriodicTask, and the rounds, read-only."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from annotation.errors import DomainError
from audit.admin_deletes import AuditedDeleteAdmin
from training.loop.models import LoopRound, LoopSetting
from training.loop.services import (
    loop_round_cancel,
    loop_setting_clean,
    loop_setting_sync,
    periodic_task_name,
)


class LoopSettingForm(forms.ModelForm):
    class Meta:
        model = LoopSetting
        fields = ["project", "enabled", "check_every_minutes", "min_interval_hours", "min_new_pairs",
                  "prompts_per_round", "base_policy", "reward_base_model", "reward_hyperparameters",
                  "dpo_hyperparameters", "eval_config", "win_threshold", "generation_backend",
                  "generation_sampling", "snapshot_filters", "promotion_judge", "ai_judge",
                  "ai_judge_enabled", "min_eval_prompts", "allow_few_eval_prompts"]

    def clean(self):
        cleaned = super().clean() or {}
        names = {f.name for f in LoopSetting._meta.fields}
        candidate = LoopSetting(**{k: v for k, v in cleaned.items() if k in names})
        try:
            loop_setting_clean(candidate)
        except DomainError as error:
            field = (error.field or "").split(".")[0]
            raise ValidationError({field if field in self.fields else NON_FIELD_ERRORS: str(error)}) from None
        return cleaned


@admin.register(LoopSetting)
class LoopSettingAdmin(AuditedDeleteAdmin):
    form = LoopSettingForm
    list_display = ["project", "enabled", "min_new_pairs", "min_interval_hours", "check_every_minutes",
                    "current_policy", "last_message"]
    list_filter = ["enabled"]
    raw_id_fields = ["project", "base_policy", "reward_base_model"]
    readonly_fields = ["current_policy", "last_checked_at", "last_message"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        loop_setting_sync(setting=obj)

    def delete_one(self, request, obj):
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(name=periodic_task_name(obj)).delete()
        super().delete_one(request, obj)


@admin.register(LoopRound)
class LoopRoundAdmin(AuditedDeleteAdmin):
    list_display = ["id", "project", "number", "status", "stage", "decision", "attempt", "created_at"]
    list_filter = ["status", "decision", "project"]
    # The round's progress belongs to the worker holding it (fenced writes).
    readonly_fields = [f.name for f in LoopRound._meta.fields]
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel the selected rounds")
    def cancel(self, request, queryset):
        for rnd in queryset:
            try:
                loop_round_cancel(rnd=rnd, actor=request.user, via="admin")
            except DomainError as error:
                self.message_user(request, f"round {rnd.pk}: {error}", messages.WARNING)
