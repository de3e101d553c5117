"""/api/docs/ in Chromium under the site's strict Content-Security-Policy: the
Swagger UI renders the schema and the browser reports no violation."""

import mimetypes
from importlib.util import find_spec
from pathlib import Path

import pytest
from django.test.utils import override_settings

from tests.browser.helpers import log_in, user

pytestmark = pytest.mark.django_db(transaction=True)

SIDECAR = Path(find_spec("drf_spectacular_sidecar").origin).parent / "static"


@pytest.fixture
def sidecar_static(page):
    """The session's collectstatic leaves out the (large) Swagger UI bundle, so
    its manifest cannot name those files: this test renders with plain static
    URLs, and the browser gets the bundle's files straight from the installed
    package (the same bytes collectstatic would copy). Palate's own static files
    are served by WhiteNoise as usual."""
    def serve(route):
        path = SIDECAR / route.request.url.split("/static/", 1)[1].split("?")[0]
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        route.fulfill(path=str(path), content_type=content_type)

    page.route("**/static/drf_spectacular_sidecar/**", serve)
    plain = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
             "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=plain):
        yield


def test_api_docs_render_without_breaking_the_policy(page, live_app, sidecar_static):
    user("docs_reader")
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    log_in(page, live_app, "docs_reader")
    response = page.goto(f"{live_app}/api/docs/")
    assert "style-src 'self'" in response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    # The UI has fetched and rendered the schema: the title and an operation.
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Palate API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".opblock-tag")
    assert page.evaluate("window.__cspViolations") == []
    assert not [line for line in console if "Content Security Policy" in line], console
