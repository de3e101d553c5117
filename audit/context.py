"""The client address of the request being served, for audit events.

Services record events without a request in hand; the middleware puts the
address in a context variable for the length of the request (threads and
async tasks each see their own). Commands and Celery tasks record None.
"""

import ipaddress
from contextvars import ContextVar

from django.conf import settings

_client_ip: ContextVar[str | None] = ContextVar("audit_client_ip", default=None)


def client_ip_from(meta: dict) -> str | None:
    """REMOTE_ADDR, or behind NUM_PROXIES proxies the address the outermost of
    them saw: the same rule as the login throttle, so a client cannot choose
    the address written in the log by sending X-Forwarded-For itself."""
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    address = meta.get("REMOTE_ADDR")
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        address = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def client_ip() -> str | None:
    return _client_ip.get()


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _client_ip.set(client_ip_from(request.META))
        try:
            return self.get_response(request)
        finally:
            _client_ip.reset(token)
