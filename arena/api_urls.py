from django.urls import path

from arena import api

urlpatterns = [
    path("projects/<int:project_id>/arena/", api.ArenaSettingsApi.as_view(), name="api-arena"),
]
