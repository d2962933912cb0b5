"""Schema fuzzing: schemathesis generates requests for every operation in /api/schema/ and
sends them, signed in as tenant A's admin, to the Django application in-process. No answer
may be a server error or break the schema (its body or its content type).

Bounded for CI: MAX_EXAMPLES per operation, derandomized (the same cases every run), no
deadline (the machine may be loaded), no example database. Nothing leaves the process: the
test runs inside a transaction that is rolled back, so the `on_commit` hooks that queue
sending and import tasks never fire and no vendor is called.

Not checked: that every status code is listed for its operation. drf-spectacular lists the
success answers only; the errors (400, 401, 403, 404, 409, 413, 429) are one envelope for the
whole API, checked by tests/test_errors.py and the suite around this file.
"""

from __future__ import annotations

import functools

import pytest
import schemathesis
import yaml
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.security.world import operation_keys

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 8
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Every operation in the schema; none is left out.
OPERATIONS = operation_keys()


@functools.cache
def served_schema() -> dict:
    """The schema exactly as /api/schema/ serves it."""
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


@pytest.fixture
def in_process_requests():
    """Let the WSGI application share the test's database connection, as Django's test client
    does: the handler would otherwise close it at the end of each request."""
    served_schema()  # first: Django's test client reconnects the handlers when it is done
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("key", OPERATIONS)
def test_no_request_gets_a_server_error_or_an_answer_that_breaks_the_schema(
    world, in_process_requests, key
):
    schema = schemathesis.openapi.from_dict(served_schema())
    schema.app = WSGIHandler()
    method, path = key.split(" ", 1)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {AccessToken.for_user(world.alice)}"}
    failures: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as failure:  # schemathesis raises a group of the checks that failed
            failures.append(f"{response.status_code} {case.as_curl_command()}\n{failure}")

    run()

    assert not failures, "\n\n".join(failures[:3])
