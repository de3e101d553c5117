from django.contrib import admin, messages

from annotation import user_admin  # noqa: F401 - the user list's account actions
from annotation.admin_readonly import ReadOnlyAdmin
from annotation.errors import DomainError
from annotation.models import (
    Adjudication,
    Annotation,
    ApiToken,
    Assignment,
    ComparisonItem,
    DatasetExport,
    DatasetSnapshot,
    Invite,
    ItemConsensus,
    ItemResponse,
    Membership,
    Project,
    ProjectQuality,
    Prompt,
    Response,
    SnapshotCompletion,
    SnapshotPair,
    UploadJob,
)
from annotation.services.projects import membership_remove, project_delete
from audit.admin_deletes import AuditedDeleteAdmin


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(AuditedDeleteAdmin):
    list_display = ["name", "slug", "task_type", "overlap", "gold_rate", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def delete_one(self, request, obj):
        project_delete(project=obj, actor=request.user)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        # A member removed in the inline goes through the service (its event,
        # its leases back to the queue, the last-admin rule) like the team page.
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            try:
                membership_remove(membership=membership, actor=request.user)
            except DomainError as error:
                self.message_user(request, f"{membership}: not removed ({error})", messages.ERROR)
        for membership in instances:
            membership.save()
        formset.save_m2m()


@admin.register(Membership)
class MembershipAdmin(AuditedDeleteAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    raw_id_fields = ["user", "project"]
    refusals = (DomainError,)  # a project keeps at least one admin

    def delete_one(self, request, obj):
        membership_remove(membership=obj, actor=request.user)


@admin.register(Prompt)
class PromptAdmin(AuditedDeleteAdmin):
    list_display = ["id", "project", "external_id", "split", "created_at"]
    list_filter = ["split", "project"]
    search_fields = ["external_id", "content_hash"]
    raw_id_fields = ["project"]
    readonly_fields = ["content_hash", "split"]


@admin.register(Response)
class ResponseAdmin(AuditedDeleteAdmin):
    list_display = ["id", "prompt", "source", "model_name", "created_at"]
    list_filter = ["source"]
    raw_id_fields = ["prompt"]


class ItemResponseInline(admin.TabularInline):
    model = ItemResponse
    extra = 0
    raw_id_fields = ["response"]


@admin.register(ComparisonItem)
class ComparisonItemAdmin(AuditedDeleteAdmin):
    list_display = ["id", "project", "priority", "is_gold", "assigned_count", "submitted_count",
                    "is_open"]
    list_filter = ["is_gold", "is_open", "project"]
    raw_id_fields = ["project", "prompt"]
    # Queue counters are owned by the queue services; editing them here would
    # break the overlap invariant (removal also ends leases: the item page does it).
    readonly_fields = ["assigned_count", "submitted_count", "is_open", "removed_at"]
    inlines = [ItemResponseInline]


@admin.register(Assignment)
class AssignmentAdmin(AuditedDeleteAdmin):
    list_display = ["id", "project", "item", "labeler", "status", "leased_at", "expires_at"]
    list_filter = ["status", "is_gold"]
    raw_id_fields = ["project", "item", "labeler"]
    readonly_fields = ["status", "display_order", "leased_at", "expires_at", "finished_at"]


@admin.register(Annotation)
class AnnotationAdmin(AuditedDeleteAdmin):
    list_display = ["id", "project", "item", "labeler", "strength", "both_bad", "source",
                    "created_at"]
    list_filter = ["source", "both_bad", "flagged_unsafe"]
    raw_id_fields = ["project", "item", "labeler", "assignment"]


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedDeleteAdmin):
    list_display = ["prefix", "user", "name", "created_at", "expires_at", "revoked_at"]
    raw_id_fields = ["user"]
    readonly_fields = ["prefix", "key_hash", "last_used_at"]


@admin.register(Invite)
class InviteAdmin(ReadOnlyAdmin):
    """Made on the team page or through the API (the link is shown once there)."""

    list_display = ["id", "project", "role", "uses", "max_uses", "expires_at", "revoked_at",
                    "created_at"]
    list_filter = ["role", "project"]


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "version", "status", "content_hash", "created_at", "finished_at"]
    list_filter = ["status", "project"]


@admin.register(SnapshotPair)
class SnapshotPairAdmin(ReadOnlyAdmin):
    list_display = ["id", "snapshot", "item_id", "margin", "is_tie", "num_labels", "split"]
    list_filter = ["split", "is_tie"]
    list_select_related = ["snapshot"]


@admin.register(SnapshotCompletion)
class SnapshotCompletionAdmin(ReadOnlyAdmin):
    list_display = ["id", "snapshot", "item_id", "label", "score", "num_labels", "split"]
    list_filter = ["split", "label"]
    list_select_related = ["snapshot"]


@admin.register(DatasetExport)
class DatasetExportAdmin(ReadOnlyAdmin):
    list_display = ["id", "snapshot", "format", "status", "progress_rows", "total_rows", "created_at"]
    list_filter = ["status", "format"]


@admin.register(ItemConsensus)
class ItemConsensusAdmin(ReadOnlyAdmin):
    list_display = ["item", "project", "method", "label", "agreement", "n_labels",
                    "needs_adjudication", "computed_at"]
    list_filter = ["needs_adjudication", "method", "project"]


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "project", "decided_by", "strength", "created_at"]
    list_filter = ["project"]


@admin.register(ProjectQuality)
class ProjectQualityAdmin(ReadOnlyAdmin):
    list_display = ["project", "method", "computed_at", "duration_ms", "recompute_due_at", "runs"]


@admin.register(UploadJob)
class UploadJobAdmin(ReadOnlyAdmin):
    """Queued file imports: run by the worker, made on the upload page or the API."""

    list_display = ["id", "project", "kind", "format", "status", "progress_rows", "total_rows", "created_at"]
    list_filter = ["status", "kind"]
