"""Personas shared by all tests: an admin, two labelers, an engineer and an
outsider who must see nothing."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import Role
from annotation.services.tokens import token_create
from tests.factories import items_make, member_add, project_make, user_make


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
