"""Personas shared by all tests: an admin, two labelers, an engineer and an
outsider who must see nothing. Also marks each test by its folder (browser,
integration, faults, gpu) so `make test-fast` can leave those out."""

from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import Role
from annotation.services.tokens import token_create
from tests.factories import items_make, member_add, project_make, user_make

# Folder → marker (registered in pyproject.toml). A module elsewhere that needs
# the same parts says so itself with ``pytestmark``.
FOLDER_MARKERS = {"browser": "browser", "integration": "integration", "faults": "faults",
                  "gpu": "gpu"}
# Minutes each on the CI box: `make run` from a fresh virtualenv, and training in
# two torchrun processes. `make test-fast` leaves them out too.
SLOW_MODULES = {"smoke/test_fresh_install.py", "training/test_distributed.py",
                "training/test_distributed_runs.py"}
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            path = Path(item.path).resolve().relative_to(TESTS)
        except ValueError:
            continue
        if path.parts[0] in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[path.parts[0]])
        if path.as_posix() in SLOW_MODULES:
            item.add_marker("slow")


def postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def admin(db):
    return user_make("admin_ann")


@pytest.fixture
def labeler(db):
    return user_make("lab_lena")


@pytest.fixture
def labeler2(db):
    return user_make("lab_liam")


@pytest.fixture
def engineer(db):
    return user_make("eng_emma")


@pytest.fixture
def outsider(db):
    return user_make("out_otto")


@pytest.fixture
def superuser(db):
    return user_make("root_rita", superuser=True)


@pytest.fixture
def project(admin, labeler, labeler2, engineer):
    project = project_make(creator=admin, overlap=2, lease_seconds=600)
    member_add(project, labeler, Role.LABELER)
    member_add(project, labeler2, Role.LABELER)
    member_add(project, engineer, Role.ENGINEER)
    return project


@pytest.fixture
def items(project):
    return items_make(project, 3)


def client_for(user) -> APIClient:
    """A token-authenticated API client (no CSRF, like a script)."""
    client = APIClient()
    if user is not None:
        _, raw = token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


@pytest.fixture
def api():
    return client_for
