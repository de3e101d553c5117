from django.contrib import admin

from audit.admin_deletes import AuditedDeleteAdmin
from generation.models import GenerationJob, GenerationJobPrompt, JudgePrompt, ModelLabeler, ModelSpec


@admin.register(ModelSpec)
class ModelSpecAdmin(AuditedDeleteAdmin):
    list_display = ["name", "role", "backend", "base_model", "project", "shared", "is_active", "created_at"]
    list_filter = ["role", "backend", "shared", "is_active"]
    search_fields = ["name", "base_model", "source"]
    raw_id_fields = ["project"]


@admin.register(GenerationJob)
class GenerationJobAdmin(AuditedDeleteAdmin):
    list_display = ["id", "project", "kind", "status", "progress_done", "progress_total",
                    "items_created", "annotations_created", "tokens_generated", "created_at"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["project", "created_by"]
    filter_horizontal = ["model_specs"]
    # Status and counters belong to the run (compare-and-set); cancel and resume
    # go through the API or the services, not through editing the row.
    readonly_fields = ["status", "error", "progress_total", "progress_done", "responses_created",
                       "items_created", "annotations_created", "dropped", "tokens_generated",
                       "attempt", "worker_id", "started_at", "heartbeat_at", "finished_at"]


@admin.register(GenerationJobPrompt)
class GenerationJobPromptAdmin(AuditedDeleteAdmin):
    list_display = ["id", "job", "prompt", "responses", "items", "tokens", "created_at"]
    raw_id_fields = ["job", "prompt"]


@admin.register(ModelLabeler)
class ModelLabelerAdmin(AuditedDeleteAdmin):
    list_display = ["user", "model", "created_at"]
    raw_id_fields = ["user", "model"]


@admin.register(JudgePrompt)
class JudgePromptAdmin(AuditedDeleteAdmin):
    list_display = ["project", "updated_at"]
    raw_id_fields = ["project"]
