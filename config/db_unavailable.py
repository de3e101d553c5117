"""A clean 503 for pages while the database is unreachable.

The API maps these errors in its own exception handler
(annotation/api/exception_handler.py); this middleware covers every other view,
which would otherwise answer 500 with a traceback in the log for what is an
outage that a retry in a few seconds survives.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable on %s: %s", request.path, exception)
        response = HttpResponse("The service is briefly unavailable. Please retry in a few seconds.\n",
                                status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = "2"
        return response
