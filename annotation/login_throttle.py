"""One login budget for every way to authenticate.

The login page, `POST /api/auth/token/`, the Django admin's login and the
password-reset links all draw on the same two limits, kept in the shared cache
(Redis, or the database cache in production: a per-process cache would give
each gunicorn worker its own budget, which `check --deploy` refuses):

* per client address: at most the "login" rate (``LOGIN_THROTTLE_RATE``,
  10/min) of attempts, successful or not, whatever account they name;
* per account: once ``LOGIN_ACCOUNT_MAX_ADDRESSES`` different addresses have
  failed on one username within ``LOGIN_ACCOUNT_WINDOW_SECONDS``, that username
  is refused from every address until the window ends. Counting addresses,
  not failures, means one address (already held to its own rate) can never
  lock an account out, while a crowd of addresses cannot share out a brute
  force of one password.

The client address is audit.context.client_ip_from: REMOTE_ADDR, or behind
NUM_PROXIES trusted proxies the address the outermost of them saw, so a client
cannot pick its own bucket by sending X-Forwarded-For.

Windows start at the first attempt and last one period (no alignment to the
clock, so the Nth attempt is never let through because a minute just turned).
Counters use cache.add + cache.incr, atomic on Redis; two requests racing on
the database cache may both be counted as one, which bounds the overshoot by
the number of web processes, not by the attacker's speed.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from audit.context import client_ip_from

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PREFIX = "palate:login"


def _address_rate() -> tuple[int, int]:
    """(attempts, seconds) from the "login" rate, written like DRF's: "10/min"."""
    text = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]
    count, period = text.split("/")
    return int(count), _PERIODS[period.strip()[0]]


def _digest(value: str) -> str:
    # Keys never hold a username or an address in clear (cache dumps, Redis MONITOR).
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _address(request) -> str:
    meta = getattr(request, "META", {})
    return client_ip_from(meta) or meta.get("REMOTE_ADDR") or "unknown"


def _window(name: str, seconds: int) -> tuple[str, float]:
    """The current window's key and the time it ends; a window opens at its
    first use and lasts ``seconds``."""
    now = time.time()
    start = cache.get_or_set(f"{name}:start", now, timeout=seconds)
    # A start from an older window can outlive its timeout on caches that
    # expire lazily; treat it as gone.
    if start is None or start + seconds <= now:
        cache.set(f"{name}:start", now, timeout=seconds)
        start = now
    return f"{name}:{start!r}", start + seconds


def _incr(key: str, seconds: int) -> int:
    cache.add(key, 0, timeout=seconds + 5)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds + 5)
        return 1


def _wait(ends_at: float) -> int:
    return max(1, int(ends_at - time.time()) + 1)


def _account_name(username: str | None) -> str | None:
    return _digest(username) if username else None


def login_refusal(*, request, username: str | None = None) -> int | None:
    """Seconds to wait if an attempt from this request (for this username)
    would be refused now; None when it may go ahead. Counts nothing."""
    limit, period = _address_rate()
    key, ends_at = _window(f"{_PREFIX}:addr:{_digest(_address(request))}", period)
    if (cache.get(key) or 0) >= limit:
        return _wait(ends_at)
    return _account_refusal(username)


def _account_refusal(username: str | None) -> int | None:
    account = _account_name(username)
    if account is None:
        return None
    seconds = settings.LOGIN_ACCOUNT_WINDOW_SECONDS
    key, ends_at = _window(f"{_PREFIX}:acct:{account}", seconds)
    if (cache.get(f"{key}:count") or 0) >= settings.LOGIN_ACCOUNT_MAX_ADDRESSES:
        return _wait(ends_at)
    return None


def login_attempt_take(*, request, username: str | None = None) -> int | None:
    """Spend one attempt of the address's budget; the seconds to wait when
    the address or the account has none left (the attempt must then not be
    made), else None."""
    limit, period = _address_rate()
    key, ends_at = _window(f"{_PREFIX}:addr:{_digest(_address(request))}", period)
    if _incr(key, period) > limit:
        return _wait(ends_at)
    return _account_refusal(username)


def login_failure_record(*, request, username: str | None) -> None:
    """A wrong password for ``username``: its address joins the account's
    failing addresses for the window (once, however often it fails)."""
    account = _account_name(username)
    if account is None:
        return
    seconds = settings.LOGIN_ACCOUNT_WINDOW_SECONDS
    key, _ = _window(f"{_PREFIX}:acct:{account}", seconds)
    if cache.add(f"{key}:from:{_digest(_address(request))}", 1, timeout=seconds + 5):
        _incr(f"{key}:count", seconds)


def login_budget_reset(*, address: str) -> None:
    """Forget an address's attempts (tests that sign in often from loopback)."""
    cache.delete(f"{_PREFIX}:addr:{_digest(address)}:start")


def login_wait_set(request, seconds: int) -> None:
    """Mark the request as refused by the budget, where its view (and the
    middleware that turns a re-shown form into 429) will look."""
    target = getattr(request, "_request", request)  # DRF's Request wraps Django's
    target.login_wait = seconds


def login_wait_of(request) -> int | None:
    return getattr(getattr(request, "_request", request), "login_wait", None)
