from django.contrib import admin

from annotation.admin_readonly import ReadOnlyAdmin
from integrations.models import (
    OidcIdentity,
    TrackedRun,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WorkerHeartbeat,
)


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["pk", "project", "url", "is_active", "created_at"]
    list_filter = ["is_active", "project"]
    # The secret signs deliveries; the admin neither shows nor edits it.
    exclude = ["secret"]
    readonly_fields = ["queue_empty_sent_at", "created_by"]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "started_at", "duration_ms", "status_code", "error", "response_excerpt"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: written by the delivery service, redelivered through the API."""

    list_display = ["pk", "subscription", "event", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event"]
    inlines = [WebhookAttemptInline]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "hostname", "pid", "queues", "started_at", "beat_at"]


@admin.register(TrackedRun)
class TrackedRunAdmin(ReadOnlyAdmin):
    """Where each run and loop round is tracked (written by the tracking observers)."""

    list_display = ["pk", "backend", "training_run", "loop_round", "external_id", "finished", "updated_at"]
    list_filter = ["backend", "finished"]


@admin.register(OidcIdentity)
class OidcIdentityAdmin(ReadOnlyAdmin):
    """The (issuer, subject) each single sign-on account signs in as (written at sign-in)."""

    list_display = ["pk", "user", "issuer", "subject"]
    search_fields = ["user__username", "subject"]
