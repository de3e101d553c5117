import pytest
from django.test import Client


@pytest.fixture(autouse=True)
def _plain_static_storage(settings, tmp_path):
    # Pages render {% static %}; the manifest storage would need collectstatic
    # first (the browser tests run that path, served by WhiteNoise).
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.STATIC_ROOT = str(tmp_path)  # WhiteNoise warns about a missing folder


@pytest.fixture
def web():
    """A browser-like session client for a user (None: anonymous)."""

    def make(user, *, enforce_csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=enforce_csrf)
        if user is not None:
            client.force_login(user)
        return client

    return make
