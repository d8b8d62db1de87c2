"""GET /api/v1/creators/: every parameter, its boundaries and combinations, and 400s that name the problem."""

import pytest

URL = "/api/v1/creators/"
pytestmark = pytest.mark.django_db


def handles(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["handle"] for row in response.json()["results"]]


def test_only_marketplace_creators_are_listed_with_public_fields_only(api_a, creators, hidden):
    response = api_a.get(URL)
    assert set(handles(response)) == set(creators)
    row = next(r for r in response.json()["results"] if r["handle"] == "ben")
    assert row == {"handle": "ben", "display_name": "Ben", "kind": "creator", "country": "FR",
                   "categories": ["comedy", "gaming"], "followers": 120_000, "avg_views": 40_000,
                   "engagement_rate": 6.25, "posts_30d": 10}


def test_default_order_is_most_followers_first(api_a, creators):
    assert handles(api_a.get(URL)) == ["cleo", "dan.media", "ben", "ana"]


@pytest.mark.parametrize(("ordering", "expected"), [
    ("followers", ["ana", "ben", "dan.media", "cleo"]),
    ("-avg_views", ["cleo", "dan.media", "ben", "ana"]),
    ("engagement_rate", ["dan.media", "ana", "cleo", "ben"]),
    ("-engagement_rate", ["ben", "cleo", "ana", "dan.media"]),
])
def test_ordering(api_a, creators, ordering, expected):
    assert handles(api_a.get(URL, {"ordering": ordering})) == expected


@pytest.mark.parametrize(("params", "expected"), [
    ({"q": "BE"}, {"ben"}),
    ({"q": "media"}, {"dan.media"}),
    ({"country": "US"}, {"ana", "cleo"}),
    ({"country": ["US", "GB"]}, {"ana", "cleo", "dan.media"}),
    ({"category": "comedy"}, {"ana", "ben"}),
    ({"category": ["beauty", "sports"]}, {"cleo", "dan.media"}),
    ({"kind": "publisher"}, {"dan.media"}),
    ({"followers_min": 120_000}, {"ben", "cleo", "dan.media"}),
    ({"followers_min": 120_001}, {"cleo", "dan.media"}),
    ({"followers_max": 120_000}, {"ana", "ben"}),
    ({"followers_max": 119_999}, {"ana"}),
    ({"avg_views_min": 60_000}, {"cleo", "dan.media"}),
    ({"engagement_rate_min": "3.10"}, {"ben", "cleo"}),
    ({"engagement_rate_min": "3.11"}, {"ben"}),
    ({"country": "US", "category": "comedy", "followers_max": 10_000}, {"ana"}),
    ({"country": "FR", "kind": "publisher"}, set()),
])
def test_filters(api_a, creators, hidden, params, expected):
    assert set(handles(api_a.get(URL, params))) == expected


@pytest.mark.parametrize(("params", "field"), [
    ({"followers_min": "many"}, "followers_min"),
    ({"followers_min": "-1"}, "followers_min"),
    ({"followers_max": "1.5"}, "followers_max"),
    ({"avg_views_min": "x"}, "avg_views_min"),
    ({"engagement_rate_min": "abc"}, "engagement_rate_min"),
    ({"engagement_rate_min": "101"}, "engagement_rate_min"),
    ({"country": "usa"}, "country"),
    ({"category": "knitting"}, "category"),
    ({"kind": "robot"}, "kind"),
    ({"ordering": "handle"}, "ordering"),
    ({"followers": "10"}, "followers"),
    ({"brand": "nova"}, "brand"),
    ({"page_size": "0"}, "page_size"),
    ({"page_size": "201"}, "page_size"),
    ({"page_size": "ten"}, "page_size"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "LWZvbGxvd2Vyc3xhfHh8MQ"}, "cursor"),  # -followers|a|x|1: not a number
])
def test_bad_parameters_are_a_400_naming_them(api_a, creators, params, field):
    response = api_a.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_cursor_pagination_walks_every_creator_once(api_a, creators):
    seen, url = [], URL + "?page_size=1"
    while url:
        body = api_a.get(url).json()
        seen += [row["handle"] for row in body["results"]]
        url = body["next"]
    assert seen == ["cleo", "dan.media", "ben", "ana"]


def test_previous_links_walk_back_to_the_first_page(api_a, creators):
    body = api_a.get(URL, {"page_size": 1, "ordering": "followers"}).json()
    assert body["previous"] is None
    while body["next"]:
        body = api_a.get(body["next"]).json()
    seen = [row["handle"] for row in body["results"]]
    while body["previous"]:
        body = api_a.get(body["previous"]).json()
        seen[:0] = [row["handle"] for row in body["results"]]
        assert body["next"] is not None
    assert seen == ["ana", "ben", "dan.media", "cleo"]


def test_a_cursor_of_another_ordering_is_a_400_naming_it(api_a, creators):
    next_url = api_a.get(URL, {"page_size": 1, "ordering": "followers"}).json()["next"]
    response = api_a.get(next_url.replace("ordering=followers", "ordering=-avg_views"))
    assert response.status_code == 400
    assert "ordering=followers" in response.json()["cursor"][0]


def test_token_authentication(token_client_a, creators):
    assert len(handles(token_client_a.get(URL))) == 4


def test_anonymous_and_users_without_a_brand_are_refused(client, creators, outsider):
    assert client.get(URL).status_code in (401, 403)
    client.force_login(outsider)
    assert client.get(URL).status_code == 403


def test_revoked_token_is_refused(user_a, brand_a, creators):
    from rest_framework.test import APIClient

    from partnerships.marketplace import services
    token, secret = services.api_token_create(user=user_a, brand_id=brand_a.pk, name="old")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get(URL).status_code == 200
    services.api_token_revoke(token_id=token.pk, actor=user_a)
    assert client.get(URL).status_code == 401
    assert token.digest != secret
    assert secret not in token.digest


def test_a_token_stops_working_when_its_user_leaves_the_brand(token_client_a, user_a, brand_a, creators):
    from partnerships.models import BrandMembership
    assert token_client_a.get(URL).status_code == 200
    BrandMembership.objects.filter(user=user_a, brand=brand_a).delete()
    assert token_client_a.get(URL).status_code == 401



@pytest.mark.parametrize("inactive", ["user", "brand"])
def test_a_token_of_an_inactive_user_or_brand_is_refused(token_client_a, user_a, brand_a, creators, inactive):
    assert token_client_a.get(URL).status_code == 200
    owner = user_a if inactive == "user" else brand_a
    type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    response = token_client_a.get(URL)
    assert response.status_code == 401
    assert "inactive" in response.json()["detail"]


def test_token_use_is_recorded_at_most_once_a_minute_and_acts_as_its_user(token_client_a, user_a, creators):
    import datetime as dt

    from django.utils import timezone

    from partnerships.models import ApiToken
    token = ApiToken.objects.get(user=user_a)
    assert token.last_used_at is None
    assert token_client_a.get(URL).status_code == 200
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    assert timezone.now() - first < dt.timedelta(seconds=30)
    assert token_client_a.get(URL).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first  # within the minute: not written again
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    assert token_client_a.get(URL).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


def test_the_token_acts_for_its_user_with_every_field_readable(rf, token_a, user_a):
    """The user is loaded with a few fields; the others are read when first used, never wrong or missing."""
    from partnerships.marketplace.api.authentication import BrandTokenAuthentication
    user, token = BrandTokenAuthentication().authenticate_credentials(token_a)
    assert (user.pk, user.username, user.is_active, user.is_staff) == (user_a.pk, "alice", True, False)
    assert user.email == user_a.email
    assert user.date_joined == user_a.date_joined
    assert token.user_id == user_a.pk
    assert token.user == user
    assert token.brand.slug == "acme"


@pytest.mark.parametrize("ordering", ["-followers", "followers", "-avg_views", "avg_views", "-engagement_rate",
                                      "engagement_rate"])
def test_a_text_search_pages_in_order_through_ties_in_every_ordering(api_a, categories, ordering):
    """With q of 3+ characters the sort keys are expressions (search.creator_page): the cursor must
    still walk every match once, in order, ties broken by the newest first."""
    from tests.marketplace.conftest import creator

    made = [creator(f"tie.{index}", followers=20_000 + 1_000 * (index % 3), avg_views=1_000 * (index % 2),
                    engagement=f"{index % 4}.50") for index in range(9)]
    creator("other.one")  # does not match
    key = {"followers": "followers", "avg_views": "avg_views", "engagement_rate": "engagement_rate"}[
        ordering.lstrip("-")]
    seen, url, params = [], URL, {"q": "tie.", "ordering": ordering, "page_size": 2}
    while url:
        body = api_a.get(url, params).json()
        seen += body["results"]
        url, params = body["next"], None
    expected = sorted(made, key=lambda p: p.pk, reverse=True)
    expected.sort(key=lambda p: {"followers": p.statistics.followers, "avg_views": p.statistics.avg_views_per_post,
                                 "engagement_rate": p.statistics.engagement_rate}[key],
                  reverse=ordering.startswith("-"))
    assert [row["handle"] for row in seen] == [p.handle for p in expected]
