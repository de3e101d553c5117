"""Webhook signatures: HMAC-SHA256 over the timestamp and the body.

A delivery carries ``X-Palate-Timestamp: <unix seconds>`` and
``X-Palate-Signature: sha256=<hex>``, the HMAC-SHA256 with the subscription's
secret of ``b"<timestamp>." + body`` (the raw bytes received). Signing the
timestamp with the body lets a receiver refuse replays: it checks the
signature, then that the timestamp is recent. Framework-free, so a receiver
can copy it.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Palate-Signature"
TIMESTAMP_HEADER = "X-Palate-Timestamp"
EVENT_HEADER = "X-Palate-Event"
DELIVERY_HEADER = "X-Palate-Delivery"
TOLERANCE_SECONDS = 300


def signature_compute(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(int(timestamp)).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signature_verify(*, secret: str, timestamp: str | None, signature: str | None, body: bytes,
                     now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True when ``signature`` is the secret's signature of ``body`` at a
    ``timestamp`` within ``tolerance`` seconds of ``now``."""
    if not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    expected = signature_compute(secret=secret, timestamp=sent, body=body)
    return hmac.compare_digest(expected, signature)
