"""Real headless Chromium against a live server.

The server is Django's LiveServerThread serving the collected, hashed static
files through WhiteNoise (as in production), not the test static handler.
Chromium is the Debian package (Playwright's own download is not reachable);
`make test` installs it. Without it these tests skip, except under CI=true,
where they fail.
"""

import os
import shutil
import socket
import statistics

import pytest
from django.core.management import call_command
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread
from django.test.utils import override_settings

from config.env import env_bool
from tests.browser.helpers import TIMINGS

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def _unavailable(reason: str):
    if env_bool("CI", False):
        pytest.fail(f"{reason} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    """PALATE_CHROMIUM if set, else Debian's chromium on the PATH."""
    if os.environ.get("PALATE_CHROMIUM"):
        candidates = [os.environ["PALATE_CHROMIUM"]]
    else:
        candidates = ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="session")
def browser(django_db_setup):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -r requirements-dev.txt")
    path = chromium_path()
    if path is None:
        _unavailable("Chromium not found: apt-get install chromium (make test does this)")
    # Playwright's sync API keeps an asyncio loop running in this thread, so
    # Django would refuse ORM calls from test code (they are plain sync calls).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class _AppOnly:
    """LiveServerThread wraps the app in a static handler; this one serves
    nothing itself, so /static/ is answered by WhiteNoise as in production."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        return self.application(environ, start_response)


class _NoDelayServer(ThreadedWSGIServer):
    """wsgiref writes headers and body separately; with Nagle's algorithm and
    delayed ACKs that adds ~40 ms to some responses, which would be measured as
    page latency. Production servers avoid it; so does this one."""

    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class _LiveServerThread(LiveServerThread):
    server_class = _NoDelayServer


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    """Base URL of a live server (session-wide), with collectstatic done."""
    static_root = tmp_path_factory.mktemp("static")
    static = override_settings(STATIC_ROOT=str(static_root))
    static.enable()
    call_command("collectstatic", interactive=False, verbosity=0,
                 ignore_patterns=["drf_spectacular_sidecar"])
    thread = _LiveServerThread("127.0.0.1", _AppOnly, connections_override={})
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    static.disable()


@pytest.fixture(autouse=True)
def login_budget_reset():
    """Every browser test signs in from 127.0.0.1, and the login throttle (its own
    tests are in tests/security) would refuse the suite's sixth sign-in within a
    minute: each test starts with a fresh budget for loopback."""
    from annotation.login_throttle import login_budget_reset as reset

    reset(address="127.0.0.1")


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    ctx.set_default_timeout(10_000)
    # Runs before any page script: records CSP violations and unexpected errors.
    ctx.add_init_script("""
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation',
            (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
    """)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    yield page
    assert errors == [], f"JavaScript errors on the page: {errors}"


def pytest_terminal_summary(terminalreporter, config):
    for name, values in config.stash.get(TIMINGS, {}).items():
        if values:
            terminalreporter.write_line(
                f"{name}: {len(values)} items, median {statistics.median(values):.0f} ms, "
                f"max {max(values):.0f} ms")
