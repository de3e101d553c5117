"""Ids in URLs that no database row can have.

`<int:…>` accepts any run of digits. PostgreSQL answers an id past 64 bits
with no row, but SQLite's driver raises OverflowError before the query runs
(a 500). Every route's integer arguments are checked here, once, so a new
route is covered without remembering to: such an id is a 404, as for any id
that names nothing.
"""

from django.http import Http404, JsonResponse

MAX_ID = 2**63 - 1


class BoundedIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        for value in (*view_args, *view_kwargs.values()):
            if isinstance(value, int) and not 0 <= value <= MAX_ID:
                if request.path.startswith("/api/"):  # the API's own 404 shape
                    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
                raise Http404("No such object.")
        return None
