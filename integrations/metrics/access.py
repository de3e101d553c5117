"""Who may read /metrics: a bearer token (PALATE_METRICS_TOKEN) or a client
address in PALATE_METRICS_ALLOW (addresses or networks).

The address is REMOTE_ADDR, never X-Forwarded-For (a client could write that).
Behind a reverse proxy on the same host every request comes from the proxy's
address, so there the token is the protection: the allow-list defaults to
loopback only under DEBUG (`make run`), and to nobody otherwise.
"""

import hmac
import ipaddress

from django.conf import settings


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in settings.PALATE_METRICS_ALLOW]


def metrics_access_allowed(*, remote_addr: str | None, authorization: str | None) -> bool:
    token = settings.PALATE_METRICS_TOKEN
    if token and authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
            return True
    if not remote_addr:
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in _networks())
