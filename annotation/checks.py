"""Deployment checks for the settings the login budget and the audit log rely
on (run by `check --deploy`, so serve_prod.sh refuses to start on them)."""

from django.conf import settings
from django.core.checks import Error, Tags, register

# Caches whose contents live in one process: each gunicorn worker would count
# login attempts on its own.
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.security, deploy=True)
def login_budget_cache_check(app_configs, **kwargs):
    backend = settings.CACHES["default"]["BACKEND"]
    if backend in PER_PROCESS_CACHES:
        return [Error(
            f"The default cache ({backend}) is per process: every web worker would keep "
            "its own login budget.",
            hint="Set REDIS_URL, or leave it unset with DEBUG off for the database cache.",
            id="palate.E001")]
    return []


@register(Tags.security, deploy=True)
def proxy_settings_check(app_configs, **kwargs):
    """A TLS proxy in front (SECURE_PROXY_SSL_HEADER) and the number of proxies
    (NUM_PROXIES) go together. With the header but no count, every client has
    the proxy's address: one guesser spends everyone's login budget and the
    audit log names the proxy. With a count but no header, there is no proxy
    to trust and X-Forwarded-For is the client's own to write."""
    behind_tls_proxy = bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None))
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    if behind_tls_proxy and not proxies:
        return [Error("SECURE_PROXY_SSL_HEADER is set but NUM_PROXIES is not: every client "
                      "would share the proxy's address in the login throttle and the audit log.",
                      hint="Set NUM_PROXIES to the number of reverse proxies in front (usually 1).",
                      id="palate.E002")]
    if proxies and not behind_tls_proxy:
        return [Error("NUM_PROXIES is set but SECURE_PROXY_SSL_HEADER is not: without a proxy "
                      "that overwrites X-Forwarded-For, clients would choose their own address.",
                      hint="Set both for a TLS-terminating proxy, or neither without one.",
                      id="palate.E003")]
    return []
