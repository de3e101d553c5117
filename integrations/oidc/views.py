"""mozilla-django-oidc's views, answering 404 while sign-in is off (the URLs are
always routed; the settings decide)."""

from django.conf import settings
from django.http import Http404
from mozilla_django_oidc import views


class _WhenOn:
    def dispatch(self, request, *args, **kwargs):
        if not settings.PALATE_OIDC:
            raise Http404("single sign-on is not configured")
        return super().dispatch(request, *args, **kwargs)


class OidcStart(_WhenOn, views.OIDCAuthenticationRequestView):
    """Redirects to the provider with a fresh state, nonce and PKCE challenge."""

    def __init__(self, *args, **kwargs):
        # The parent reads the endpoint settings here: not while sign-in is off.
        if settings.PALATE_OIDC:
            super().__init__(*args, **kwargs)


class OidcCallback(_WhenOn, views.OIDCAuthenticationCallbackView):
    """The provider's redirect back: state checked, code exchanged, user signed in."""
