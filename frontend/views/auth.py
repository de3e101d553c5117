"""The login page and password-reset links, on the login budget.

Every password check spends from one budget (annotation/login_throttle.py,
through the authentication backend): this page, POST /api/auth/token/ and the
admin's login alike, so switching between them buys a guesser nothing. A
refused attempt shows the form again with the wait; LoginThrottleStatusMiddleware
makes that answer 429 with Retry-After.
"""

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponseForbidden
from django.shortcuts import render

from annotation.login_throttle import (
    login_attempt_take,
    login_refusal,
    login_wait_of,
    login_wait_set,
)


class ThrottledFormMixin:
    """Says "too many attempts" instead of "wrong password" when the budget,
    not the password, refused (the backend never checked it)."""

    def get_invalid_login_error(self):
        wait = login_wait_of(self.request) if self.request is not None else None
        if wait:
            return ValidationError(
                f"Too many login attempts; try again in {wait} seconds.", code="throttled")
        return super().get_invalid_login_error()


class ThrottledAuthenticationForm(ThrottledFormMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledFormMixin, AdminAuthenticationForm):
    pass


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True
    form_class = ThrottledAuthenticationForm

    def get_context_data(self, **kwargs):
        # "Sign in with <provider>" when OpenID Connect is on (integrations/oidc);
        # the password form unless local passwords are switched off.
        return {**super().get_context_data(**kwargs),
                "sso_name": settings.PALATE_OIDC_PROVIDER_NAME if settings.PALATE_OIDC else "",
                "sso_failed": self.request.GET.get("sso") == "failed",
                "local_passwords": settings.PALATE_LOCAL_PASSWORDS}

    def post(self, request, *args, **kwargs):
        if not settings.PALATE_LOCAL_PASSWORDS:  # no backend would check it anyway: say why
            return HttpResponseForbidden("Local passwords are disabled; sign in with single sign-on.")
        return super().post(request, *args, **kwargs)


class ThrottledPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A reset link is a credential too: each wrong one spends an attempt of
    the address's login budget, and a spent budget refuses links, right or
    wrong, until it refills (a guesser cannot tell them apart)."""

    template_name = "frontend/password_reset_confirm.html"

    def dispatch(self, request, *args, **kwargs):
        wait = login_refusal(request=request)
        if wait is None:
            response = super().dispatch(request, *args, **kwargs)
            if self.validlink:
                return response
            wait = login_attempt_take(request=request)
            if wait is None:
                return response
        login_wait_set(request, wait)
        return render(request, self.template_name,
                      {"validlink": False, "throttled_wait": wait})
