"""The login page, throttled like the token endpoint (POST /api/auth/token/).

Both draw on one budget per client address (the "login" rate, REMOTE_ADDR
unless NUM_PROXIES is set), so switching between the page and the API buys a
password guesser nothing.
"""

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from annotation.api.views_auth import LoginRateThrottle


class ThrottledAuthenticationForm(AuthenticationForm):
    """Shown instead of checking the password once the budget is spent: its
    clean() refuses without ever calling authenticate()."""

    wait_seconds = 60

    def clean(self):
        raise ValidationError(
            f"Too many login attempts from your address; try again in {self.wait_seconds} seconds.",
            code="throttled")


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True
    throttle_scope = "login"  # read by the throttle, as on an API view

    def post(self, request, *args, **kwargs):
        throttle = LoginRateThrottle()
        if throttle.allow_request(request, self):
            return super().post(request, *args, **kwargs)
        form = ThrottledAuthenticationForm(request, data=request.POST)
        form.wait_seconds = int(throttle.wait() or 60) + 1
        form.is_valid()
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(form.wait_seconds)
        return response
