from django.contrib import admin

from annotation.admin_readonly import ReadOnlyAdmin
from audit.admin_deletes import AuditedDeleteAdmin
from integrations.models import (
    OidcIdentity,
    TrackedRun,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WorkerHeartbeat,
)
from integrations.webhooks.services import webhook_subscription_delete


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(AuditedDeleteAdmin):
    list_display = ["pk", "project", "url", "is_active", "created_at"]
    list_filter = ["is_active", "project"]
    # The secret signs deliveries; the admin neither shows nor edits it.
    exclude = ["secret"]
    readonly_fields = ["queue_empty_sent_at", "created_by"]

    def delete_one(self, request, obj):
        webhook_subscription_delete(subscription=obj, actor=request.user)


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


@admin.register(OidcIdentity)
class OidcIdentityAdmin(ReadOnlyAdmin):
    """Which OpenID Connect subject signs in as which user: written at sign-in
    by the OIDC backend, shown here."""

    list_display = ["pk", "user", "issuer", "subject", "created_at", "last_login_at"]
    list_filter = ["issuer"]


@admin.register(TrackedRun)
class TrackedRunAdmin(ReadOnlyAdmin):
    """Where each run or round is tracked, and the tracker's last error."""

    list_display = ["pk", "training_run", "loop_round", "backend", "finished", "updated_at"]
    list_filter = ["backend", "finished"]
