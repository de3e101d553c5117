"""API fuzzing: schemathesis generates requests from the OpenAPI schema
(/api/schema/) for every operation and sends them, in-process, as an
anonymous client, a labeler and a project admin. No answer may be a server
error, and every documented answer must match its documented schema.

Bounded: PALATE_FUZZ_EXAMPLES examples per operation and persona (default 6),
derandomized so a failure reproduces; the whole run stays within a few
minutes on two cores. Path parameters point at real objects of one project
(the labeler's own lease and token), so the fuzzed bodies and query strings
reach the views instead of stopping at 404. Each request runs in a savepoint
that is rolled back, so one example's writes never shape the next.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from annotation.services.tokens import token_create

EXAMPLES = int(os.environ.get("PALATE_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, response_schema_conformance]
PERSONAS = ("anonymous", "labeler", "admin")


def auth_headers(user) -> dict[str, str]:
    return {} if user is None else {"Authorization": f"Token {token_create(user=user)[1]}"}


def fuzz_operation(operation, *, headers: dict, ids: dict) -> list[str]:
    """Send EXAMPLES generated cases of one operation; the failures found."""
    failures: list[str] = []

    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        for name in list(case.path_parameters or {}):
            if name in ids:
                case.path_parameters[name] = ids[name]
        with transaction.atomic():
            response = case.call(headers=headers)
            transaction.set_rollback(True)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as error:  # one or more checks failed
            failures.append(f"{operation.method.upper()} {operation.path}: {error}\n"
                            f"  reproduce: {case.as_curl_command(headers=headers)}")

    run()
    return failures


@pytest.fixture
def wsgi_in_test_transaction():
    """The WSGI app, with connections kept open across requests: Django's
    request signals would close the test's connection (and its transaction)
    after the first one. django.test.Client does the same for its requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("persona", PERSONAS)
def test_fuzzed_requests_get_no_server_error_and_match_the_schema(persona, world, admin,
                                                                  wsgi_in_test_transaction):
    app = wsgi_in_test_transaction
    # The schema is for signed-in users: read it as the admin whatever the persona.
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, headers=auth_headers(admin))
    headers = auth_headers(world.personas[persona])
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        failures += fuzz_operation(operation, headers=headers, ids=world.ids)
    assert operations >= 50  # the schema lists the whole API, not a fraction of it
    assert not failures, f"{len(failures)} failing cases:\n" + "\n\n".join(failures[:20])
