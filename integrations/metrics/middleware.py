import time

from integrations.metrics.instruments import REQUEST_LATENCY


class RequestMetricsMiddleware:
    """Latency and status of every request, labelled by the URL pattern that
    matched (``api/projects/<int:project_id>/next/``), never the raw path: ids
    in paths would make one time series per object."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        REQUEST_LATENCY.labels(route=route, method=request.method,
                               status=str(response.status_code)).observe(time.perf_counter() - started)
        return response
