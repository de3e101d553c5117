import logging

from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from annotation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

logger = logging.getLogger(__name__)

STATUS = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Forbidden: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
    Invalid: status.HTTP_400_BAD_REQUEST,
}


def palate_exception_handler(exc, context):
    """Domain errors become HTTP in this one place; DRF handles the rest."""
    if isinstance(exc, DomainError):
        code = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        return Response(exc.as_dict(), status=code)
    if isinstance(exc, DatabaseError) and "could not serialize" in str(exc):
        return Response({"code": "retry", "detail": "Busy, retry."}, status=503,
                        headers={"Retry-After": "1"})
    if isinstance(exc, DataError):
        # A value the database cannot store (a number past its column's range, say)
        # that a serializer let through: the statement failed, so nothing was
        # written. Serializers bound their fields and name them; this is the net.
        logger.warning("value out of the database's range: %s", exc)
        return Response({"code": "out_of_range",
                         "detail": "A value is outside the range the database can store."}, status=400)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable (restarting, failing over) or dropped the
        # connection mid-request: nothing was committed that the client cannot
        # retry (submits carry an idempotency key), so say "retry", not 500.
        logger.warning("database unavailable: %s", exc)
        return Response({"code": "database_unavailable", "detail": "The database is unavailable; retry."},
                        status=503, headers={"Retry-After": "2"})
    return exception_handler(exc, context)
