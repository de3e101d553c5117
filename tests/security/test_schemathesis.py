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


# ----- odd inputs, sent to every operation of the schema -----

# Values that crashed views before (ValueError, OverflowError, RecursionError,
# UnicodeEncodeError, PostgreSQL's refusal of NUL): every integer-looking query
# parameter, every path id and every JSON body gets them, so a new operation
# is covered the day it appears in the schema.
ODD_QUERY_VALUES = ("²", "٣", "\x00", str(2**63), "-1", "1e3")
ODD_BODIES = ("[" * 5000 + "]" * 5000, '{"name": "a\\u0000b"}', '{"name": "\\ud800"}',
              '{"score": NaN}', '[{"prompt": "\\ud800"}]')


def odd_requests(spec: dict, ids: dict):
    """(method, path, query, body) for each odd value of each operation."""
    for template, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = operation.get("parameters", [])
            path = template
            for name, value in ids.items():
                path = path.replace("{" + name + "}", str(value))
            for param in params:
                if param["in"] == "query":
                    for value in ODD_QUERY_VALUES:
                        yield method, path, {param["name"]: value}, None
            for param in params:
                if param["in"] == "path":
                    yield method, template.replace("{" + param["name"] + "}", str(2**63)).format(
                        **{k: v for k, v in ids.items()}), {}, None
            if "requestBody" in operation:
                for body in ODD_BODIES:
                    yield method, path, {}, body


@pytest.mark.parametrize("persona", ["admin", "superuser"])
def test_odd_inputs_to_every_operation_get_no_server_error(persona, world, admin, superuser):
    from rest_framework.test import APIClient

    user = {"admin": admin, "superuser": superuser}[persona]
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=auth_headers(admin)["Authorization"])
    spec = reader.get("/api/schema/?format=json").json()
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=auth_headers(user)["Authorization"])
    failures, sent = [], 0
    for method, path, query, body in odd_requests(spec, world.ids):
        sent += 1
        with transaction.atomic():
            if body is None:
                response = getattr(client, method)(path, query or None) if method == "get" else \
                    getattr(client, method)(path + ("?" + "&".join(f"{k}={v}" for k, v in query.items())
                                                    if query else ""))
            else:
                response = getattr(client, method)(path, body, content_type="application/json")
            if getattr(response, "file_to_stream", None) is not None:
                response.file_to_stream.close()
            transaction.set_rollback(True)
        if response.status_code >= 500:
            failures.append(f"{method.upper()} {path} {query or ''} {(body or '')[:40]!r}: "
                            f"{response.status_code}")
    assert sent > 300
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:30])
