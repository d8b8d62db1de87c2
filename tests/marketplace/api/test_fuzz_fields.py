"""Every API operation with each of its parameters and body fields replaced by hostile strings (issue 15): never a
5xx, and a 4xx wrote nothing. Complements test_fuzz (schemathesis' own data): here every field meets every value
of tests.security.hostile.HOSTILE (a rotation), in a request that is otherwise valid, as JSON."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.marketplace.api.test_campaigns import campaign_payload
from tests.security.hostile import TEN_MB, rotations, row_counts

pytestmark = pytest.mark.django_db
WRITES = ("post", "put", "patch", "delete")


def operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            fields = list(components[body["$ref"].rsplit("/", 1)[-1]]["properties"]) if body else []
            parameters = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            yield path, method, parameters, fields


def valid_body(path: str, campaign) -> dict:
    if path.startswith("/api/v1/invitations/"):
        return {"campaign": campaign.pk, "partner_handle": "ben", "offered_fee_minor": 75_000, "currency": "USD",
                "message": "Join us"}
    if "shortlist" in path:
        return {"handle": "ana", "note": "good fit"}
    return campaign_payload()


def test_every_api_field_takes_every_hostile_value_without_a_server_error(api_a, campaign_a, creators):
    failures, exercised = [], 0
    # Deletes last: they take no input but the path, and the campaign they delete is everyone's path.
    for path, method, parameters, fields in sorted(operations(), key=lambda operation: operation[1] == "delete"):
        url = path.replace("{id}", str(campaign_a.pk)).replace("{handle}", "ana")
        for values in list(rotations(parameters + fields))[:None if parameters or fields else 1]:
            query = {name: values[name] for name in parameters}
            body = {**valid_body(path, campaign_a), **{name: values[name] for name in fields}}
            before = row_counts()
            request = getattr(api_a, method)
            response = request(url, body, format="json") if method in WRITES else request(url, query)
            exercised += 1
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} {response.status_code} ← {values!r:.200}")
            elif 400 <= response.status_code < 500 and row_counts() != before:
                failures.append(f"{method.upper()} {url} wrote on {response.status_code} ← {values!r:.200}")
    assert exercised >= 8 * 20  # the operations with inputs, each meeting every value
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", ["/api/v1/campaigns/", "/api/v1/invitations/"])
def test_a_ten_megabyte_api_body_is_a_json_refusal(api_a, campaign_a, path):
    before = row_counts()
    response = api_a.post(path, {"name": TEN_MB}, format="json")
    assert response.status_code in (400, 413)
    assert response["Content-Type"].startswith("application/json")
    assert row_counts() == before
