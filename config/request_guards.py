"""Requests no view can serve, answered before any view runs.

Every route is covered without remembering to, so a new route gets these too:

* an id in the URL past 64 bits: `<int:…>` accepts any run of digits;
  PostgreSQL answers such an id with no row, but SQLite's driver raises
  OverflowError before the query runs (a 500). It names nothing: 404.
* a NUL character in a query parameter: PostgreSQL refuses it in any
  filter (a 500). No parameter of the site can hold one: 400.
"""

from django.http import Http404, HttpResponseBadRequest, JsonResponse

MAX_ID = 2**63 - 1


def _api(request) -> bool:
    return request.path.startswith("/api/")


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                detail = "A query parameter contains a NUL character."
                if _api(request):
                    return JsonResponse({"code": "invalid", "detail": detail, "field": name.replace(
                        "\x00", "\\x00")}, status=400)
                return HttpResponseBadRequest(detail)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        for value in (*view_args, *view_kwargs.values()):
            if isinstance(value, int) and not 0 <= value <= MAX_ID:
                if _api(request):  # the API's own 404 shape
                    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
                raise Http404("No such object.")
        return None
