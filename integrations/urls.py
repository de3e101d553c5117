from django.urls import path

from integrations.migration import api as migration
from integrations.webhooks import api as webhooks

urlpatterns = [
    path("projects/<int:project_id>/webhooks/", webhooks.WebhookListApi.as_view(), name="api-webhooks"),
    path("projects/<int:project_id>/webhooks/<int:webhook_id>/", webhooks.WebhookDetailApi.as_view(),
         name="api-webhook"),
    path("projects/<int:project_id>/webhooks/<int:webhook_id>/test/", webhooks.WebhookTestApi.as_view(),
         name="api-webhook-test"),
    path("projects/<int:project_id>/webhooks/<int:webhook_id>/deliveries/",
         webhooks.WebhookDeliveryListApi.as_view(), name="api-webhook-deliveries"),
    path("projects/<int:project_id>/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver/",
         webhooks.WebhookRedeliverApi.as_view(), name="api-webhook-redeliver"),
    path("projects/<int:project_id>/imports/label-studio/", migration.LabelStudioImportApi.as_view(),
         name="api-import-label-studio"),
    path("projects/<int:project_id>/imports/argilla/", migration.ArgillaImportApi.as_view(),
         name="api-import-argilla"),
    path("projects/<int:project_id>/exports/label-studio/", migration.LabelStudioExportApi.as_view(),
         name="api-export-label-studio"),
]
