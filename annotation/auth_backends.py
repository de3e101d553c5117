"""The authentication backend: Django's, behind the login budget.

Every password check in the site goes through ``authenticate()`` and so
through here (the login page, the token endpoint, the admin's login, any
future form): checking the budget at this one place means no way to log in
can be left unthrottled. Calls without a request (management commands,
scripts run by an operator) are not throttled.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from annotation.login_throttle import login_attempt_take, login_failure_record, login_wait_set


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        wait = login_attempt_take(request=request, username=username)
        if wait is not None:
            login_wait_set(request, wait)
            # authenticate() stops at PermissionDenied: no later backend is asked
            # and the password is never checked.
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(request=request, username=username)
        return user
