"""JSON the labeling page reads next to the REST API: the leased item rendered
as sanitized HTML, and the lease state when its timer runs out. Read-only
(GET), so CSRF does not apply; never cached."""

from functools import wraps

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from annotation import access
from annotation.errors import DomainError, Forbidden, NotFound
from frontend import selectors

STATUS = {NotFound: 404, Forbidden: 403}


def _json_view(view):
    """Signed-in users only (401, not a login redirect); domain errors as JSON."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"code": "not_authenticated", "detail": "Log in again."},
                                status=401)
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            code = next((s for cls, s in STATUS.items() if isinstance(error, cls)), 400)
            return JsonResponse(error.as_dict(), status=code)

    return never_cache(require_GET(wrapper))


@_json_view
def lease_content(request, assignment_id: int):
    assignment = access.assignment_for_labeler(user=request.user, assignment_id=assignment_id)
    return JsonResponse(selectors.lease_content(assignment=assignment))


@_json_view
def lease_state(request, assignment_id: int):
    assignment = access.assignment_for_labeler(user=request.user, assignment_id=assignment_id)
    return JsonResponse(selectors.lease_state(assignment=assignment))
