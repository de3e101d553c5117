"""REST API for webhooks: thin views over integrations.webhooks.services.

Only a project's admins (access.MANAGE) see or change its webhooks: a
subscription sends project data to an outside URL. Engineers and labelers get
403, non-members 404.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView, paginated
from annotation.api.pagination import PalatePagination
from annotation.events import EVENTS
from integrations.access import delivery_for_webhook, webhook_for_project
from integrations.models import WebhookDelivery
from integrations.webhooks import services

# ----- shapes -----


class WebhookInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="http(s) URL on a public address.")
    events = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False,
                                   help_text="Any of: " + ", ".join(EVENTS))
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WebhookPatch(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebhookOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookCreated(WebhookOutput):
    secret = serializers.CharField(help_text="The signing secret; shown this once.")


class AttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    response_excerpt = serializers.CharField()


class DeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    webhook_id = serializers.IntegerField(source="subscription_id")
    event = serializers.CharField()
    event_id = serializers.UUIDField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    redelivery_of = serializers.IntegerField(source="redelivery_of_id", allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.DictField()
    attempt_log = AttemptOutput(many=True)


# ----- views -----


class WebhookListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.MANAGE

    @extend_schema(responses=WebhookOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        return paginated(request, self, project.webhooks.order_by("pk"), WebhookOutput)

    @extend_schema(request=WebhookInput, responses={201: WebhookCreated})
    def post(self, request, project_id: int):
        project = self.project
        data = WebhookInput(data=request.data)
        data.is_valid(raise_exception=True)
        subscription, secret = services.webhook_subscription_create(
            project=project, created_by=request.user, **data.validated_data)
        body = WebhookOutput(subscription).data | {"secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailApi(ProjectApiView):
    project_need = access.MANAGE

    @extend_schema(responses=WebhookOutput)
    def get(self, request, project_id: int, webhook_id: int):
        subscription = webhook_for_project(project=self.project, webhook_id=webhook_id)
        return Response(WebhookOutput(subscription).data)

    @extend_schema(request=WebhookPatch, responses=WebhookOutput)
    def patch(self, request, project_id: int, webhook_id: int):
        subscription = webhook_for_project(project=self.project, webhook_id=webhook_id)
        data = WebhookPatch(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.webhook_subscription_update(subscription=subscription, actor=request.user,
                                                            **data.validated_data)
        return Response(WebhookOutput(subscription).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, webhook_id: int):
        subscription = webhook_for_project(project=self.project, webhook_id=webhook_id)
        services.webhook_subscription_delete(subscription=subscription, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestApi(ProjectApiView):
    """Queue a ``webhook.test`` delivery to the subscription."""

    project_need = access.MANAGE

    @extend_schema(request=None, responses={202: DeliveryOutput})
    def post(self, request, project_id: int, webhook_id: int):
        subscription = webhook_for_project(project=self.project, webhook_id=webhook_id)
        delivery = services.webhook_test_send(subscription=subscription, actor=request.user)
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(ProjectApiView):
    """The delivery log, newest first, each with its attempts and response codes."""

    pagination_class = PalatePagination
    project_need = access.MANAGE

    @extend_schema(responses=DeliveryOutput(many=True))
    def get(self, request, project_id: int, webhook_id: int):
        subscription = webhook_for_project(project=self.project, webhook_id=webhook_id)
        deliveries = (WebhookDelivery.objects.filter(subscription=subscription)
                      .prefetch_related("attempt_log").order_by("-pk"))
        return paginated(request, self, deliveries, DeliveryOutput)


class WebhookRedeliverApi(ProjectApiView):
    project_need = access.MANAGE

    @extend_schema(request=None, responses={202: DeliveryOutput})
    def post(self, request, project_id: int, webhook_id: int, delivery_id: int):
        subscription = webhook_for_project(project=self.project, webhook_id=webhook_id)
        delivery = delivery_for_webhook(subscription=subscription, delivery_id=delivery_id)
        copy = services.webhook_delivery_redeliver(delivery=delivery, actor=request.user)
        return Response(DeliveryOutput(copy).data, status=status.HTTP_202_ACCEPTED)
