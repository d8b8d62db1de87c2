"""The shared cache of creator search pages (partnerships.marketplace.search_cache), through the API and the brand
page: a cached page is served without the search statements, but never to a revoked token or a removed member,
never with another brand's content, and never after a statistics refresh or a partner's change of standing."""

import datetime as dt
import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from partnerships.marketplace import search, search_cache, services
from partnerships.marketplace.api.serializers import CreatorSerializer
from partnerships.marketplace.search import CreatorQuery
from partnerships.models import ApiToken, BrandMembership, MarketplaceCreator, Partner, StatisticsChange
from partnerships.services.partners import partner_suspend
from partnerships.services.statistics import partner_statistics_refresh, partner_statistics_refresh_changed
from tests.partnerships.factories import UserFactory

URL = "/api/v1/creators/"
pytestmark = pytest.mark.django_db
SEARCH_TABLE = MarketplaceCreator._meta.db_table
# Writes commit for real here: a page must be dropped when the write commits, as other processes see it then.
committed = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _page_cache(settings, empty_cache):
    settings.SEARCH_CACHE_SECONDS = 30


def handles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["handle"] for row in response.json()["results"]]


def search_statements(queries) -> list[str]:
    """The statements that read the search (page or count): the only ones that read the search table."""
    return [query["sql"] for query in queries.captured_queries if SEARCH_TABLE in query["sql"]]


def get_counting(client, url, params=None):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    return response, search_statements(queries)


@pytest.fixture
def token_client_b(user_b, brand_b):
    _token, secret = services.api_token_create(user=user_b, brand_id=brand_b.pk, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_the_second_request_is_served_from_the_cache_without_a_search_statement(token_client_a, creators):
    first, statements = get_counting(token_client_a, URL, {"page_size": 2})
    assert len(statements) == 1
    second, statements = get_counting(token_client_a, URL, {"page_size": 2})
    assert statements == []
    assert second.json() == first.json()
    assert handles(second) == ["cleo", "dan.media"]
    # The next page's cursor came from the cache too, and pages on.
    assert handles(token_client_a.get(second.json()["next"])) == ["ben", "ana"]


def test_repeated_filters_in_another_order_share_one_entry(token_client_a, creators):
    first, statements = get_counting(token_client_a, URL, {"country": ["US", "GB"]})
    assert len(statements) == 1
    second, statements = get_counting(token_client_a, URL + "?country=gb,us&country=US")
    assert statements == []
    assert set(handles(second)) == set(handles(first)) == {"ana", "cleo", "dan.media"}


def test_a_cache_of_0_seconds_reads_every_page(settings, token_client_a, creators):
    settings.SEARCH_CACHE_SECONDS = 0
    token_client_a.get(URL)
    _response, statements = get_counting(token_client_a, URL)
    assert len(statements) == 1


def test_a_token_revoked_after_its_page_was_cached_is_refused(token_client_a, user_a, brand_a, creators):
    assert token_client_a.get(URL).status_code == 200
    token = ApiToken.objects.get(brand=brand_a, user=user_a)
    services.api_token_revoke(token_id=token.pk, actor=user_a)
    response, statements = get_counting(token_client_a, URL)
    assert response.status_code == 401
    assert statements == []
    assert "results" not in response.json()


def test_a_member_removed_after_the_page_was_cached_is_refused_on_the_api_and_the_page(
        client, token_client_a, user_a, brand_a, creators):
    client.force_login(user_a)
    assert token_client_a.get(URL).status_code == 200
    assert client.get(reverse("brands:creators")).status_code == 200
    BrandMembership.objects.filter(brand=brand_a, user=user_a).delete()
    response = token_client_a.get(URL)
    assert response.status_code == 401
    assert "results" not in response.json()
    page = client.get(reverse("brands:creators"))
    assert page.status_code == 404
    assert b"cleo" not in page.content


def test_an_inactive_brand_is_refused_although_its_page_is_cached(token_client_a, brand_a, creators):
    assert token_client_a.get(URL).status_code == 200
    brand_a.is_active = False
    brand_a.save(update_fields=["is_active"])
    assert token_client_a.get(URL).status_code == 401


def test_the_throttle_still_counts_cached_pages(settings, token_client_a, creators):
    settings.BRAND_RATE = "2/minute"
    assert token_client_a.get(URL).status_code == 200
    assert token_client_a.get(URL).status_code == 200
    assert token_client_a.get(URL).status_code == 429


def test_brands_share_entries_that_hold_nothing_of_a_brand(token_client_a, token_client_b, creators):
    first = token_client_a.get(URL)
    response, statements = get_counting(token_client_b, URL)
    assert statements == []  # brand B was served brand A's entry: it holds only the creators' public fields
    assert response.json()["results"] == first.json()["results"]
    # The API's token requests keep the page as the JSON of its rows (api.lean_search): public fields only.
    entry = search_cache.cache.get(
        search_cache.page_key(CreatorQuery(), search.DEFAULT_ORDERING, None, 50, kind="rendered"))
    _generation, results, _next, _previous = entry
    assert {key for row in json.loads(results) for key in row} == set(CreatorSerializer.Meta.fields)


def test_the_page_of_each_brand_shows_its_own_campaigns_around_a_shared_entry(
        client, user_a, user_b, campaign_a, campaign_b, creators):
    client.force_login(user_a)
    page_a = client.get(reverse("brands:creators")).content.decode()
    assert "Acme summer" in page_a
    client.force_login(user_b)
    with CaptureQueriesContext(connection) as queries:
        page_b = client.get(reverse("brands:creators")).content.decode()
    assert search_statements(queries) == []  # the page and its count came from A's entry
    assert "Nova secret launch" in page_b
    assert "Acme summer" not in page_b
    assert "cleo" in page_b
    assert "4 creators match these filters." in page_b


@committed
def test_a_suspended_partner_leaves_cached_pages_at_once(token_client_a, creators, manager):
    assert "ben" in handles(token_client_a.get(URL))
    partner_suspend(partner_id=creators["ben"].pk, actor=manager, reason="fraud review")
    assert handles(token_client_a.get(URL)) == ["cleo", "dan.media", "ana"]


@committed
@pytest.mark.parametrize("change", ["opted_out", "removed", "deleted", "category"])
def test_a_partner_change_is_seen_at_once(token_client_a, creators, categories, change):
    assert handles(token_client_a.get(URL, {"category": "comedy"})) == ["ben", "ana"]
    ana = creators["ana"]
    with transaction.atomic():
        if change == "opted_out":
            ana.opted_into_brand_deals = False
            ana.save(update_fields=["opted_into_brand_deals"])
        elif change == "removed":
            ana.status = Partner.Status.REMOVED
            ana.save(update_fields=["status"])
        elif change == "deleted":
            ana.delete()
        else:
            ana.categories.remove(categories["comedy"])
    assert handles(token_client_a.get(URL, {"category": "comedy"})) == ["ben"]


@committed
def test_the_cache_is_dropped_when_a_write_commits_once_however_many_rows_it_wrote(token_client_a, creators):
    token_client_a.get(URL)
    with transaction.atomic():
        for partner in creators.values():
            partner.save()
        _response, statements = get_counting(token_client_a, URL)
        assert statements == []  # not committed: the cached page is still what other connections see
        pending = [entry for entry in connection.run_on_commit if entry[1] is search_cache._new_generation]
        assert len(pending) == 1
    _response, statements = get_counting(token_client_a, URL)
    assert len(statements) == 1


@committed
def test_a_write_rolled_back_to_a_savepoint_keeps_the_cache(token_client_a, creators):
    token_client_a.get(URL)
    with transaction.atomic():
        try:
            with transaction.atomic():
                creators["ana"].save()
                raise RuntimeError("refused")
        except RuntimeError:
            pass
        assert not [entry for entry in connection.run_on_commit if entry[1] is search_cache._new_generation]
        creators["ben"].save()  # a later write in the same transaction still drops the pages at its commit
    _response, statements = get_counting(token_client_a, URL)
    assert len(statements) == 1


@committed
def test_a_full_statistics_refresh_drops_cached_pages(token_client_a, creators):
    assert len(handles(token_client_a.get(URL))) == 4
    # No daily metrics: the refresh leaves every creator without posts in the window, below the marketplace's bar.
    partner_statistics_refresh()
    assert handles(token_client_a.get(URL)) == []


@committed
def test_the_refresh_after_a_load_drops_cached_pages(client, user_a, creators):
    client.force_login(user_a)
    assert "4 creators match" in client.get(reverse("brands:creators")).content.decode()
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    StatisticsChange.objects.create(partner_id=creators["ana"].pk, day=yesterday, posts=-8)  # 10 posts -> 2
    assert partner_statistics_refresh_changed() == 1
    html = client.get(reverse("brands:creators")).content.decode()
    assert "3 creators match" in html
    assert "@ana" not in html


def test_a_bad_cursor_is_refused_before_the_cache_is_read(token_client_a, creators):
    token_client_a.get(URL)
    response = token_client_a.get(URL, {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_an_unreachable_cache_reads_the_database(monkeypatch, token_client_a, creators):
    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(search_cache.cache, "get_many", unreachable)
    response, statements = get_counting(token_client_a, URL)
    assert len(handles(response)) == 4
    assert len(statements) == 1


def test_another_day_is_another_entry(token_client_a, creators, monkeypatch):
    token_client_a.get(URL)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    monkeypatch.setattr(search_cache.timezone, "localdate", lambda: tomorrow)
    _response, statements = get_counting(token_client_a, URL)
    assert len(statements) == 1  # the age rule is of the day: yesterday's page is not served


def test_a_staff_user_without_a_brand_is_refused(client, creators, token_client_a):
    token_client_a.get(URL)
    staff = UserFactory(username="staffer", is_staff=True)
    api = APIClient()
    api.force_authenticate(staff)
    assert api.get(URL).status_code == 403
