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
