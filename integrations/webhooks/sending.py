"""One signed HTTP POST to a vetted address.

The connection goes to an address target_check accepted, with the URL's host
in the Host header and (for HTTPS) as the TLS server name, so the certificate
is still checked against the name. Redirects are not followed, proxies from
the environment are not used: either could send the request somewhere the
check never saw.
"""

import time
from dataclasses import dataclass

from integrations.webhooks.targets import DEFAULT_PORTS, Target

EXCERPT_CHARS = 300


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str
    excerpt: str
    duration_ms: int


def _netloc(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == DEFAULT_PORTS[target.scheme] else f"{host}:{target.port}"


def signed_post(*, target: Target, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
    """POST ``body`` to the first vetted address that accepts a connection."""
    import httpx  # here, not at module level: every web and worker process imports this module at start

    started = time.monotonic()
    error = ""
    with httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout) as client:
        for address in target.addresses:
            url = f"{target.scheme}://{_netloc(address, target.port)}{target.path}"
            extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
            try:
                response = client.post(url, content=body, extensions=extensions,
                                       headers={**headers, "Host": _host_header(target),
                                                "Content-Type": "application/json",
                                                "User-Agent": "Palate-Webhooks/1"})
            except httpx.ConnectError as exc:
                error = f"could not connect to {address}: {exc}"
                continue  # the next address of the name, as a browser would
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                break
            excerpt = response.text[:EXCERPT_CHARS]
            note = ""
            if response.is_redirect:
                note = f"redirect to {response.headers.get('location', '?')[:200]} not followed"
            return PostResult(status_code=response.status_code, error=note, excerpt=excerpt,
                              duration_ms=int((time.monotonic() - started) * 1000))
    return PostResult(status_code=None, error=error[:2000], excerpt="",
                      duration_ms=int((time.monotonic() - started) * 1000))
