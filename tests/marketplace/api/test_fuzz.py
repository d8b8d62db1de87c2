"""Schemathesis generates requests from the OpenAPI schema (valid and invalid) for every operation: the
API must never answer with a server error, and every documented response must match its schema.
Bounded: a fixed number of examples per operation, so CI time stays small.

(The operations are driven from a plain test: schemathesis' pytest fixture integration does not work with
this pytest version.)"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from config.wsgi import application

EXAMPLES_PER_OPERATION = 15  # per operation and mode (valid, invalid)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Requests go through the raw WSGI app (not Django's test client), whose end-of-request signal would
    close the database connection the test's transaction lives on; do what the test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_the_api_never_fails_and_keeps_its_schema(wsgi_keeps_the_test_connection, token_a, campaign_a, creators):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    headers = {"Authorization": f"Token {token_a}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13  # search, similar, campaigns (6), matches, shortlist (3), invitations (4)

    for operation, mode in ((op, mode) for op in operations for mode in GenerationMode):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def exercise(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            exercise()
        except Unsatisfiable:
            # No invalid request can be built for an operation without inputs (e.g. the schema endpoint).
            assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request could be generated"
