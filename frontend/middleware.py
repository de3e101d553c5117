class ContentSecurityPolicyMiddleware:
    """A strict CSP on every response: no inline scripts, no third-party origins.

    Untrusted model output is rendered in pages; even if sanitizing failed,
    the browser would refuse to run injected script.
    """

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.POLICY)
        return response


class LoginThrottleStatusMiddleware:
    """A login form refused by the login budget (annotation/login_throttle.py)
    is shown again with its message; this makes its status 429 with
    Retry-After, whichever view showed it (the login page, the admin's login,
    a password-reset link)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        wait = getattr(request, "login_wait", None)
        if wait and response.status_code == 200:
            response.status_code = 429
            response.reason_phrase = "Too Many Requests"
            response["Retry-After"] = str(wait)
        return response
