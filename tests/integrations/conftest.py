import pytest

from tests.integrations.receiver import receiver_start


@pytest.fixture
def receiver():
    receiver = receiver_start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def loopback_allowed(settings):
    """The tests' receiver listens on loopback, which production refuses."""
    settings.PALATE_WEBHOOK_ALLOW_PRIVATE = True
    return settings
