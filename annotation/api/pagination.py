"""The API's pagination: DRF's limit/offset, with both bounded.

DRF takes any positive ``limit`` and ``offset``; past 2^63 PostgreSQL refuses
the query ("bigint out of range") and the answer was a 500. A limit above
MAX_LIMIT is served as MAX_LIMIT (DRF's own cut-off), an offset past the last
possible row as that row.
"""

from rest_framework.pagination import LimitOffsetPagination

from annotation.validation import MAX_ID

MAX_LIMIT = 1000


class PalatePagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_offset(self, request):
        return min(super().get_offset(request), MAX_ID)
