import os

from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from integrations.metrics.access import metrics_access_allowed
from integrations.metrics.collector import PlatformCollector


@require_GET
def metrics(request):
    """Prometheus text format: every process's instruments (summed from the
    multiprocess directory) and the platform state from the database."""
    if not metrics_access_allowed(remote_addr=request.META.get("REMOTE_ADDR"),
                                  authorization=request.headers.get("Authorization")):
        return HttpResponseForbidden("metrics: token or allowed address required\n",
                                     content_type="text/plain")
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    registry.register(PlatformCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
