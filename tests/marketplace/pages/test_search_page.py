"""The search page as a brand reads it: how many creators match, a refused filter on its field, countries in any
case, and each creator's lookalikes."""

import pytest
from django.urls import reverse

from partnerships.marketplace import search
from partnerships.marketplace.params import CreatorSearchForm
from tests.marketplace.conftest import creator

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_a(client, user_a):
    client.force_login(user_a)
    return client


def test_the_page_says_how_many_creators_match(page_a, creators, hidden):
    html = page_a.get(reverse("brands:creators"), {"country": "US"}).content.decode()
    assert "2 creators match these filters." in html  # ana and cleo; the hidden partners are not counted
    html = page_a.get(reverse("brands:creators"), {"page_size": 1}).content.decode()
    assert "4 creators match these filters." in html  # the count is of the search, not of the page


def test_a_count_below_the_limit_is_exact(creators, hidden):
    assert search.search_count(search.CreatorQuery()) == search.ResultCount(4, approximate=False)
    assert search.search_count(search.CreatorQuery(countries=("FR",))) == search.ResultCount(1, approximate=False)


@pytest.mark.postgres
def test_on_postgresql_a_large_count_is_the_planners_estimate(creators, monkeypatch):
    from django.db import connection
    if connection.vendor != "postgresql":
        pytest.skip("the estimate comes from PostgreSQL's planner")
    monkeypatch.setattr(search, "EXACT_COUNT_LIMIT", 0)  # every count is "large"
    count = search.search_count(search.CreatorQuery())
    assert count.approximate
    assert count.number >= 1


def test_a_refused_filter_is_shown_on_its_field_and_not_as_no_matches(page_a, creators):
    response = page_a.get(reverse("brands:creators"), {"followers_min": "lots", "country": "USA"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "No creator matches" not in html
    assert "match these filters" not in html  # no count either: nothing was searched
    assert 'aria-invalid="true" aria-describedby="id_followers_min_error"' in html
    assert '<ul class="errorlist" id="id_followers_min_error"><li>Enter a whole number.</li></ul>' in html
    assert 'aria-describedby="country-help id_country_error" aria-invalid="true"' in html
    assert "Use two-letter country codes, e.g. US." in html


@pytest.mark.parametrize("typed", ["us", "Us", " us , gb "])
def test_country_codes_are_understood_in_any_case(page_a, creators, typed):
    html = page_a.get(reverse("brands:creators"), {"country": typed}).content.decode()
    assert "@ana" in html
    assert "@ben" not in html  # France
    form = CreatorSearchForm({"country": typed})
    assert form.is_valid()
    assert set(form.cleaned_data["country"]) <= {"US", "GB"}


def test_the_api_understands_lower_case_countries_too(api_a, creators):
    response = api_a.get("/api/v1/creators/", {"country": "fr"})
    assert response.status_code == 200, response.content
    assert [row["handle"] for row in response.json()["results"]] == ["ben"]


def test_each_result_links_to_its_lookalikes(page_a, creators, categories):
    creator("ann", followers=11_000, country="US", categories=[categories["comedy"]])
    html = page_a.get(reverse("brands:creators")).content.decode()
    assert f'href="{reverse("brands:creator_similar", args=["ana"])}"' in html
    html = page_a.get(reverse("brands:creator_similar", args=["ana"])).content.decode()
    listed = html[html.index("<tbody>"):]
    assert listed.index("@ann") < listed.index("@ben") < listed.index("@cleo")  # shared category, same country
    assert "@ana</strong>" not in listed  # not a lookalike of herself


def test_lookalikes_of_an_unknown_creator_are_not_found(page_a, creators, hidden):
    assert page_a.get(reverse("brands:creator_similar", args=["nobody"])).status_code == 404
    assert page_a.get(reverse("brands:creator_similar", args=["optedout"])).status_code == 404
