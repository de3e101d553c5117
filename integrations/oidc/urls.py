from django.urls import path

from integrations.oidc.views import OidcCallback, OidcStart

urlpatterns = [
    path("authenticate/", OidcStart.as_view(), name="oidc_authentication_init"),
    path("callback/", OidcCallback.as_view(), name="oidc_authentication_callback"),
]
