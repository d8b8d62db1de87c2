"""The lean path of GET /api/v1/creators/ (api.lean_search) answers token requests exactly as the DRF view does:
the same status, headers and body bytes for pages, cursors, bad parameters, bad or revoked tokens and throttled
requests, with the page cache off and on; requests it does not take still reach the DRF view."""

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from partnerships.marketplace import services, throttling
from partnerships.marketplace.api import lean_search
from partnerships.models import ApiToken

URL = "/api/v1/creators/"
DRF_ONLY = "tests.marketplace.api.drf_search_urls"
pytestmark = pytest.mark.django_db


@pytest.fixture(params=[0, 30], ids=["cache off", "cache on"])
def _page_cache(request, settings, empty_cache):
    settings.SEARCH_CACHE_SECONDS = request.param


def answers(settings, client: APIClient, url: str, params=None, **headers) -> tuple:
    """The lean path's answer and the DRF view's to the same request, each as (status, headers, body)."""
    lean = client.get(url, params, **headers)
    with settings_urlconf(settings, DRF_ONLY):
        drf = client.get(url, params, **headers)
    return [(response.status_code, dict(response.headers), response.content) for response in (lean, drf)]


class settings_urlconf:  # noqa: N801 - used like override_settings
    def __init__(self, settings, urlconf: str) -> None:
        self.settings, self.urlconf = settings, urlconf

    def __enter__(self):
        self.saved, self.settings.ROOT_URLCONF = self.settings.ROOT_URLCONF, self.urlconf

    def __exit__(self, *exc) -> None:
        self.settings.ROOT_URLCONF = self.saved


@pytest.mark.usefixtures("_page_cache")
@pytest.mark.parametrize("params", [
    {},
    {"page_size": "2"},
    {"country": ["US", "GB"], "ordering": "followers"},
    {"category": "comedy", "engagement_rate_min": "2.00"},
    {"q": "an", "kind": "creator"},
    {"q": "  ", "followers_min": "0", "followers_max": "10000000"},
    {"followers_min": "-1"},
    {"kind": "robot", "country": "usa", "ordering": "handle"},
    {"category": "knitting"},
    {"page_size": "0"},
    {"brand": "nova", "format_x": "1"},
    {"cursor": "not-a-cursor"},
    {"cursor": "LWZvbGxvd2Vyc3xhfHh8MQ"},
    {"engagement_rate_min": "1e400"},
], ids=repr)
def test_the_lean_path_answers_what_the_drf_view_answers(settings, token_client_a, creators, hidden, params):
    lean, drf = answers(settings, token_client_a, URL, params)
    assert lean == drf
    assert lean[0] in (200, 400)


@pytest.mark.usefixtures("_page_cache")
def test_every_page_and_link_of_a_walk_is_the_same(settings, token_client_a, creators):
    url, params, pages = URL, {"page_size": 1, "ordering": "-engagement_rate"}, 0
    while url:
        lean, drf = answers(settings, token_client_a, url, params)
        assert lean == drf
        body = token_client_a.get(url, params).json()
        if body["previous"]:
            back_lean, back_drf = answers(settings, token_client_a, body["previous"])
            assert back_lean == back_drf
        url, params, pages = body["next"], None, pages + 1
    assert pages == 4


@pytest.mark.usefixtures("_page_cache")
@pytest.mark.parametrize("authorization", [
    "Token cp_not-a-token", "Token", "Token a b", "Bearer x", "token lower-case-keyword", None,
], ids=repr)
def test_bad_or_missing_tokens_get_the_same_answer(settings, creators, authorization):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    lean, drf = answers(settings, client, URL)
    assert lean == drf
    assert lean[0] == 401
    assert lean[1]["WWW-Authenticate"] == "Token"


@pytest.mark.usefixtures("_page_cache")
def test_a_revoked_token_gets_the_same_401_on_its_very_next_request(settings, token_client_a, user_a, creators):
    assert token_client_a.get(URL).status_code == 200
    services.api_token_revoke(token_id=ApiToken.objects.get(user=user_a).pk, actor=user_a)
    lean, drf = answers(settings, token_client_a, URL)
    assert lean == drf
    assert (lean[0], lean[2]) == (401, b'{"detail":"Invalid or revoked token."}')


@pytest.mark.usefixtures("_page_cache")
def test_a_throttled_request_gets_the_same_429(settings, monkeypatch, token_client_a, creators):
    settings.BRAND_RATE = "2/minute"
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: 6_000_015.5))  # 44.5 s before the window ends
    assert token_client_a.get(URL).status_code == 200
    lean, drf = answers(settings, token_client_a, URL, {"followers_min": "x"})  # the second request, then the third
    assert lean[0] == 400  # the second request is still within the budget: its parameters are checked
    lean, drf = answers(settings, token_client_a, URL, {"followers_min": "x"})
    assert lean == drf
    assert (lean[0], lean[1]["Retry-After"]) == (429, "45")
    assert lean[2] == b'{"detail":"Request was throttled. Expected available in 45 seconds."}'


@pytest.mark.parametrize(("method", "headers"), [
    ("get", {"HTTP_ACCEPT": "text/html"}),
    ("get", {"HTTP_ACCEPT": "application/json; indent=4"}),
    ("head", {}),
    ("options", {}),
])
def test_requests_it_does_not_take_go_to_the_drf_view(settings, token_client_a, creators, method, headers):
    lean = getattr(token_client_a, method)(URL, **headers)
    with settings_urlconf(settings, DRF_ONLY):
        drf = getattr(token_client_a, method)(URL, **headers)
    assert lean.status_code == drf.status_code == 200
    assert lean["Content-Type"] == drf["Content-Type"]
    assert lean.content == drf.content or method == "get" and "html" in headers["HTTP_ACCEPT"]  # a CSRF token
    assert lean_search.takes(lean.wsgi_request) is None


def test_a_format_parameter_is_the_drf_view_s(settings, token_client_a, creators):
    lean, drf = answers(settings, token_client_a, URL, {"format": "json"})
    assert lean == drf
    assert lean[0] == 400  # format is not a parameter of the search (refused by name)
    assert answers(settings, token_client_a, URL, {"format": "xml"})[0][0] == 404


def test_a_cached_page_costs_one_statement_the_token_s(settings, empty_cache, token_client_a, creators):
    settings.SEARCH_CACHE_SECONDS = 30
    token_client_a.get(URL)
    with CaptureQueriesContext(connection) as queries:
        assert token_client_a.get(URL).status_code == 200
    assert len(queries.captured_queries) == 1
    assert ApiToken._meta.db_table in queries.captured_queries[0]["sql"]


def test_the_schema_still_documents_the_search():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/creators/"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"q", "country", "cursor", "page_size"}


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_since_the_last_request_is_replaced_as_the_health_check_would(token_client_a, creators):
    """The token's statement stands in for CONN_HEALTH_CHECKS' SELECT 1: a persistent connection the server closed
    (a restart) is replaced and the request answered, never a 500."""
    if not connection.settings_dict.get("CONN_HEALTH_CHECKS"):
        pytest.skip("the database has no health checks (SQLite)")
    connection.ensure_connection()
    connection.health_check_done = False  # as at the start of each request (close_old_connections)
    broken = connection.connection
    broken.close()  # what the server's end of a restart leaves the worker with
    response = token_client_a.get(URL)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 4
    assert connection.connection is not broken
