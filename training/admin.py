from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from annotation.admin_readonly import ReadOnlyAdmin
from annotation.errors import DomainError
from audit.admin_deletes import AuditedDeleteAdmin
from training.models import (
    HumanEvalItem,
    PolicyEvaluation,
    TrainingMetric,
    TrainingRun,
    TrainingSchedule,
)
from training.services.runs import training_run_cancel, training_run_resume
from training.services.schedules import (
    training_schedule_clean,
    training_schedule_delete,
    training_schedule_sync,
)


@admin.register(TrainingRun)
class TrainingRunAdmin(AuditedDeleteAdmin):
    list_display = ["id", "project", "kind", "status", "step", "total_steps", "device", "attempt",
                    "is_active", "created_at"]
    list_filter = ["status", "kind", "project"]
    raw_id_fields = ["project", "snapshot", "created_by", "schedule", "base_model", "output_model"]
    # Status and progress belong to the worker and the services (conditional
    # updates): editing them here would break a claim.
    readonly_fields = ["status", "step", "total_steps", "eta_at", "device", "worker_id", "attempt",
                       "heartbeat_at", "claimed_at", "timings", "results", "error", "artifacts_dir",
                       "output_model", "is_active", "started_at", "finished_at"]
    actions = ["cancel", "resume"]

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request, queryset):
        for run in queryset:
            try:
                training_run_cancel(run=run, actor=request.user, via="admin")
            except DomainError as error:
                self.message_user(request, f"run {run.pk}: {error}", messages.WARNING)

    @admin.action(description="Resume the selected runs from their last checkpoint")
    def resume(self, request, queryset):
        for run in queryset:
            try:
                training_run_resume(run=run, actor=request.user, via="admin")
            except DomainError as error:
                self.message_user(request, f"run {run.pk}: {error}", messages.WARNING)


class TrainingScheduleForm(forms.ModelForm):
    class Meta:
        model = TrainingSchedule
        fields = ["project", "kind", "enabled", "min_new_pairs", "min_interval_hours", "check_every_minutes",
                  "base_model", "hyperparameters", "filters"]

    def clean(self):
        cleaned = super().clean()
        candidate = TrainingSchedule(**{k: v for k, v in cleaned.items()
                                        if k in {f.name for f in TrainingSchedule._meta.fields}})
        try:
            training_schedule_clean(candidate)
        except DomainError as error:
            field = error.field if error.field in self.fields else NON_FIELD_ERRORS
            raise ValidationError({field: error.message}) from None
        return cleaned


@admin.register(TrainingSchedule)
class TrainingScheduleAdmin(AuditedDeleteAdmin):
    """Edits the schedule and keeps its django-celery-beat PeriodicTask in step."""

    form = TrainingScheduleForm
    list_display = ["project", "kind", "enabled", "min_new_pairs", "min_interval_hours",
                    "check_every_minutes", "last_triggered_at", "last_message"]
    list_filter = ["enabled", "kind"]
    raw_id_fields = ["project", "base_model"]
    readonly_fields = ["last_checked_at", "last_triggered_at", "last_message"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        training_schedule_sync(schedule=obj)

    def delete_one(self, request, obj):
        training_schedule_delete(schedule=obj, actor=request.user, via="admin")


@admin.register(TrainingMetric)
class TrainingMetricAdmin(ReadOnlyAdmin):
    list_display = ["run", "split", "step", "created_at"]
    list_filter = ["split"]


@admin.register(PolicyEvaluation)
class PolicyEvaluationAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "policy", "reference", "reward_model", "created_at"]
    list_filter = ["project"]


@admin.register(HumanEvalItem)
class HumanEvalItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "evaluation", "item", "policy_position"]


from training.loop import admin as loop_admin  # noqa: E402,F401  (registers the loop's admin)
