"""Hostile strings are a 400 naming the parameter, never a 500, and nothing is written (issue 15).

PostgreSQL refuses a NUL character in text with a DataError; config.hostile_input answers first. Crafted search
cursors and exponent amounts are refused by their strict parsers. Run these on PostgreSQL too."""

import json
from base64 import urlsafe_b64encode

import pytest
from django.urls import reverse

from partnerships.models import Campaign, Invitation, ShortlistEntry
from tests.marketplace.api.test_campaigns import campaign_payload, invite

pytestmark = pytest.mark.django_db
NUL = "\x00"


@pytest.fixture
def page_a(client, user_a):
    client.force_login(user_a)
    return client


def nothing_written():
    return not (Invitation.objects.exists() or ShortlistEntry.objects.exists()
                or Campaign.objects.exclude(name="Acme summer").exists())


def cursor(text: str) -> str:
    return urlsafe_b64encode(text.encode()).decode().rstrip("=")


# -- NUL bytes: the API ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "name"), [
    ({"q": f"ben{NUL}"}, "q"),
    ({"country": NUL}, "country"),
    ({"category": f"comedy{NUL}"}, "category"),
    ({"ordering": NUL}, "ordering"),
])
def test_a_nul_in_a_search_parameter_is_a_json_400_naming_it(api_a, creators, params, name):
    response = api_a.get("/api/v1/creators/", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == [name]


@pytest.mark.parametrize(("params", "name"), [
    ({"followers_min": "\u0661\u0662\u0663"}, "followers_min"),  # Arabic-Indic 123: int() would take it
    ({"avg_views_min": "\uff11\uff10"}, "avg_views_min"),  # full-width 10
    ({"engagement_rate_min": "\u0968.5"}, "engagement_rate_min"),  # Devanagari 2.5
    ({"page_size": "\u0661\u0660"}, "page_size"),
    ({"page_size": " 10"}, "page_size"),
])
@pytest.mark.parametrize("client_name", ["api_a", "token_client_a"])  # the DRF view and the lean token path
def test_digits_of_another_script_in_a_search_number_are_a_json_400_naming_it(request, creators, client_name, params,
                                                                               name):
    response = request.getfixturevalue(client_name).get("/api/v1/creators/", params)
    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_digits_of_another_script_on_the_search_page_are_a_400_naming_the_field(page_a, creators):
    response = page_a.get(reverse("brands:creators"), {"followers_min": "\u0661\u0662\u0663"})
    assert response.status_code == 400
    assert "Enter a whole number." in response.content.decode()


@pytest.mark.parametrize(("overrides", "name"), [
    ({"partner_handle": f"ben{NUL}"}, "partner_handle"),
    ({"message": f"Join{NUL}us"}, "message"),
])
def test_a_nul_in_an_invitation_is_a_json_400_and_nobody_is_invited(api_a, campaign_a, creators, overrides, name):
    response = invite(api_a, campaign_a, **overrides)
    assert response.status_code == 400
    assert list(response.json()) == [name]
    assert nothing_written()


@pytest.mark.parametrize("body_format", ["json", "multipart"])
def test_a_nul_in_a_shortlist_note_is_a_400_and_nothing_is_written(api_a, campaign_a, creators, body_format):
    response = api_a.post(f"/api/v1/campaigns/{campaign_a.pk}/shortlist/", {"handle": "ben", "note": NUL},
                          format=body_format)
    assert response.status_code == 400
    assert list(response.json()) == ["note" if body_format == "json" else "body"]
    assert nothing_written()


def test_a_nul_in_a_form_encoded_api_body_is_a_400_naming_the_field(api_a, campaign_a, creators):
    response = api_a.post(f"/api/v1/campaigns/{campaign_a.pk}/shortlist/", "handle=ben&note=%00",
                          content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert list(response.json()) == ["note"]
    assert nothing_written()


def test_a_nul_in_a_json_key_or_nested_list_and_a_lone_surrogate_are_refused(api_a, brand_a, categories):
    for payload, name in ((campaign_payload(target_countries=["US", NUL]), "target_countries"),
                          ({**campaign_payload(), f"x{NUL}": 1}, "body"),
                          (campaign_payload(name="\ud800"), "name")):
        # json.dumps escapes both as \u0000 / \ud800, as a hostile client sends them.
        response = api_a.post("/api/v1/campaigns/", json.dumps(payload), content_type="application/json")
        assert response.status_code == 400, payload
        assert list(response.json()) == [name]
    assert nothing_written()


def test_a_nul_in_the_path_is_a_400(api_a, campaign_a):
    response = api_a.delete(f"/api/v1/campaigns/{campaign_a.pk}/shortlist/ben%00/")
    assert response.status_code == 400
    assert list(response.json()) == ["path"]


# -- NUL bytes: the brand pages and the admin -----------------------------------------------------------------------

def test_a_nul_in_the_search_page_is_a_plain_400_naming_it(page_a, creators):
    response = page_a.get(reverse("brands:creators"), {"q": NUL})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode().startswith("q contains a character that cannot be stored")


@pytest.mark.parametrize(("view", "data", "name"), [
    ("brands:invite", {"handle": ["ana", f"ben{NUL}"], "fee": "300.00", "message": "hi"}, "handle"),
    ("brands:invite", {"handle": ["ana"], "fee": "300.00", "message": f"hi{NUL}"}, "message"),
    ("brands:shortlist_add", {"handle": [f"ben{NUL}"]}, "handle"),
])
def test_a_nul_in_a_brand_form_is_a_400_and_nothing_is_written(page_a, campaign_a, creators, view, data, name):
    response = page_a.post(reverse(view, args=[campaign_a.pk]), data)
    assert response.status_code == 400
    assert response.content.decode().startswith(f"{name} contains")
    assert nothing_written()


def test_a_nul_in_the_campaign_form_is_a_400_and_no_campaign_is_created(page_a, brand_a):
    response = page_a.post(reverse("brands:campaigns"), {"brand": brand_a.pk, "name": f"x{NUL}", "currency": "USD"})
    assert response.status_code == 400
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("query", ["q=%00", "status=%00", "q=a&kind=b%00c"])
def test_a_nul_in_an_admin_changelist_search_or_filter_is_a_400(client, superuser, query):
    client.force_login(superuser)
    response = client.get(f"/admin/partnerships/partner/?{query}")
    assert response.status_code == 400


# -- crafted cursors ------------------------------------------------------------------------------------------------

BAD_INTEGER_KEYS = [str(10**400), "1e999999", "NaN", "-1", "١٢", "1_000", " 12", "12.5", "9" * 19, ""]
BAD_DECIMAL_KEYS = ["1e999999", "NaN", "Infinity", "-1.5", "١.٥", "1" * 400, "1." + "0" * 400, "0x10"]


@pytest.mark.parametrize(("ordering", "key", "pk"), [
    *[("-followers", key, "1") for key in BAD_INTEGER_KEYS],
    *[("avg_views", key, "1") for key in BAD_INTEGER_KEYS[:4]],
    *[("-engagement_rate", key, "1") for key in BAD_DECIMAL_KEYS],
    ("-followers", "100", str(10**400)),
    ("-followers", "100", "-5"),
    ("-engagement_rate", "4.50", "١"),
])
def test_a_crafted_cursor_is_a_400_on_the_api_and_the_page(api_a, page_a, creators, ordering, key, pk):
    crafted = cursor(f"{ordering}|a|{key}|{pk}")
    response = api_a.get("/api/v1/creators/", {"ordering": ordering, "cursor": crafted})
    assert response.status_code == 400
    assert list(response.json()) == ["cursor"]
    page = page_a.get(reverse("brands:creators"), {"ordering": ordering, "cursor": crafted})
    assert page.status_code == 400
    assert "Invalid cursor" in page.content.decode()


def test_a_cursor_the_api_made_for_the_engagement_ordering_still_pages(api_a, creators):
    first = api_a.get("/api/v1/creators/", {"ordering": "-engagement_rate", "page_size": 2}).json()
    second = api_a.get(first["next"]).json()
    handles = [row["handle"] for row in first["results"] + second["results"]]
    assert handles == ["ben", "cleo", "ana", "dan.media"]


# -- exponent amounts -----------------------------------------------------------------------------------------------

# RAW marks a JSON number written as is: 1E+999999 parses to infinity, 1e2 to 100.0.
RAW_HUGE, RAW_EXPONENT = object(), object()
AMOUNTS = ["1E+999999", RAW_HUGE, RAW_EXPONENT, 10**400, "NaN", "١٠٠", "100.0", True]


def post_raw(client, url, payload, field, amount):
    body = json.dumps({**payload, field: "AMOUNT"})
    number = {id(RAW_HUGE): "1E+999999", id(RAW_EXPONENT): "1e2"}.get(id(amount))
    body = body.replace('"AMOUNT"', number if number else json.dumps(amount))
    return client.post(url, body, content_type="application/json")


@pytest.mark.parametrize("amount", AMOUNTS)
def test_an_exponent_or_huge_fee_is_a_400_naming_it_and_nobody_is_invited(api_a, campaign_a, creators, amount):
    payload = {"campaign": campaign_a.pk, "partner_handle": "ben", "currency": "USD", "message": "Join us"}
    response = post_raw(api_a, "/api/v1/invitations/", payload, "offered_fee_minor", amount)
    assert response.status_code == 400
    assert list(response.json()) == ["offered_fee_minor"]
    assert nothing_written()


@pytest.mark.parametrize("amount", AMOUNTS)
def test_an_exponent_or_huge_budget_is_a_400_naming_it(api_a, brand_a, categories, amount):
    response = post_raw(api_a, "/api/v1/campaigns/", campaign_payload(), "budget_minor", amount)
    assert response.status_code == 400
    assert list(response.json()) == ["budget_minor"]
    assert not Campaign.objects.exists()


def test_an_exponent_fee_on_the_invite_page_is_a_400_and_nobody_is_invited(page_a, campaign_a, creators):
    response = page_a.post(reverse("brands:invite", args=[campaign_a.pk]),
                           {"handle": ["ana"], "fee": "1E+999999", "message": ""})
    assert response.status_code == 400
    assert "1E+999999" in response.content.decode()
    assert nothing_written()


def test_an_exponent_budget_on_the_campaign_page_is_a_400_and_no_campaign_is_created(page_a, brand_a):
    response = page_a.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Huge", "budget": "1E+999999", "currency": "USD", "starts_on": "2030-01-01",
        "ends_on": "2030-02-01", "status": "draft"})
    assert response.status_code == 400
    assert "1E+999999" in response.content.decode()
    assert not Campaign.objects.exists()
