from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path

from integrations.metrics.views import metrics


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("annotation.api.urls")),
    path("api/", include("generation.urls")),
    path("api/", include("training.urls")),
    path("api/", include("audit.urls")),
    path("api/", include("integrations.urls")),
    path("api/", include("arena.api_urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("oidc/", include("integrations.oidc.urls")),  # 404 unless PALATE_OIDC is on
    path("", include("arena.urls")),
    path("", include("frontend.urls")),
]
