"""Where a webhook may go: SSRF checks on the URL and on every DNS answer.

A subscription's URL is checked when it is saved, and again before every
request, because a name can resolve elsewhere later (DNS rebinding): the
request then goes to an address that passed the check, never to a second
lookup of the name. Loopback, private (RFC 1918, ULA), link-local (cloud
metadata at 169.254.169.254), shared, reserved, multicast and unspecified
addresses are refused unless PALATE_WEBHOOK_ALLOW_PRIVATE is on (a receiver
inside the network, or the tests' loopback receiver). Redirects are never
followed (sending.py), so a public endpoint cannot bounce a delivery inward.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from annotation.errors import Invalid

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (a name, or an address without brackets)
    port: int
    path: str  # path and query, at least "/"
    addresses: tuple[str, ...]  # the vetted answers, in resolver order


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Invalid(f"the host {host!r} does not resolve ({error})", field="url") from None
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


def target_check(url: str, *, allow_private: bool) -> Target:
    """The URL's target if it may receive webhooks, else Invalid (field ``url``)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise Invalid(f"not a valid URL ({error})", field="url") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise Invalid("must be an http:// or https:// URL", field="url")
    if not parts.hostname:
        raise Invalid("must name a host", field="url")
    if parts.username or parts.password:
        raise Invalid("must not carry credentials; the signature authenticates deliveries", field="url")
    port = port or DEFAULT_PORTS[parts.scheme]
    addresses = _resolve(parts.hostname, port)
    if not addresses:
        raise Invalid(f"the host {parts.hostname!r} has no address", field="url")
    if not allow_private:
        for address in addresses:
            if not address_is_public(address):
                raise Invalid(f"the host {parts.hostname!r} resolves to {address}, a loopback, private, "
                              "link-local or reserved address; webhooks go to public addresses only "
                              "(PALATE_WEBHOOK_ALLOW_PRIVATE allows others)", field="url")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=parts.hostname, port=port, path=path,
                  addresses=tuple(addresses))
