"""The bases of the API views: one pagination, and the project resolved and
authorized once, before the handler runs (as Sentry's project endpoints do).

A view under ``projects/<project_id>/`` derives from ProjectApiView and names
the roles each method needs in ``project_need``; the handler finds the project
in ``self.project``. The lookup is annotation.access.project_for_user, so a
non-member gets 404 whether or not the project exists and a member whose role
lacks the capability gets 403. It runs after DRF's authentication, permission
and throttle checks, where the handlers used to call it first thing, and only
for a method the view handles: an unsupported method stays 405 and OPTIONS
stays DRF's metadata answer.
"""

from collections.abc import Mapping

from rest_framework.views import APIView

from annotation import access
from annotation.api.pagination import PalatePagination
from annotation.models import Project


class ApiView(APIView):
    # List views set PalatePagination (the only one): drf-spectacular shows the
    # paginated shape where it is set, so views answering a bare list leave it None.
    pagination_class: type[PalatePagination] | None = None

    def paginated(self, queryset, serializer_class, **serializer_kwargs):
        return paginated(self.request, self, queryset, serializer_class, **serializer_kwargs)


def paginated(request, view, queryset, serializer_class, **serializer_kwargs):
    """One page of ``queryset`` (``?limit=&offset=``, bounded) in the paginated envelope."""
    paginator = PalatePagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, **serializer_kwargs).data)


class ProjectApiView(ApiView):
    # The roles that may call the view: one set for every method, or one per
    # method name ("get", "post", …; "head" follows "get").
    project_need: frozenset | Mapping[str, frozenset] = access.VIEW
    project: Project

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        method = request.method.lower()
        if method == "options" or not hasattr(self, method):
            return
        self.project = access.project_for_user(user=request.user, project_id=kwargs["project_id"],
                                               need=self.need_for(method))

    def need_for(self, method: str) -> frozenset:
        need = self.project_need
        if isinstance(need, frozenset):
            return need
        return need["get" if method == "head" else method]
