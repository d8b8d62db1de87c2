"""The brand pages: sign in, search, campaigns, matches, invite and withdraw — and tenant isolation."""

import re

import pytest
from django.urls import reverse

from partnerships.models import Campaign, Invitation

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_a(client, user_a):
    client.force_login(user_a)
    return client


def test_sign_in_then_land_on_search(client, user_a, creators):
    response = client.post(reverse("brands:login"), {"username": "alice", "password": "pw"})
    assert response.status_code == 302
    assert response.url == reverse("brands:creators")
    assert "@cleo" in client.get(response.url).content.decode()


def test_pages_need_a_signed_in_brand_member(client, outsider):
    response = client.get(reverse("brands:creators"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("brands:login"))
    client.force_login(outsider)
    assert client.get(reverse("brands:creators")).status_code == 404


def test_search_filters_and_sorts_like_the_api(page_a, creators, hidden):
    html = page_a.get(reverse("brands:creators"), {"country": "US, GB", "ordering": "followers"}).content.decode()
    assert html.index("@ana") < html.index("@dan.media") < html.index("@cleo")
    assert "@ben" not in html
    for name in hidden:
        assert f"@{name}" not in html
    assert 'aria-sort="ascending"' in html


def test_search_reports_bad_filters(page_a, creators):
    html = page_a.get(reverse("brands:creators"), {"followers_min": "lots"}).content.decode()
    assert "Some filters are not valid" in html
    assert "Enter a whole number." in html


def test_search_shows_each_creator_row_and_pages_by_its_next_link(page_a, creators):
    html = page_a.get(reverse("brands:creators"), {"page_size": 2}).content.decode()
    assert "@cleo" in html
    assert "@dan.media" in html
    assert "@ben" not in html
    row = html[html.index("@dan.media"):]
    row = row[:row.index("</tr>")]
    for shown in ("Publisher", "GB", "Sports", "300,000", "60,000", "1.00%", "10"):
        assert shown in row
    next_url = re.search(r'<a href="([^"]+)" rel="next">', html).group(1).replace("&amp;", "&")
    html = page_a.get(next_url).content.decode()
    assert html.index("@ben") < html.index("@ana")
    assert "@cleo" not in html
    assert 'rel="next"' not in html
    previous_url = re.search(r'<a href="([^"]+)" rel="prev">', html).group(1).replace("&amp;", "&")
    html = page_a.get(previous_url).content.decode()
    assert html.index("@cleo") < html.index("@dan.media")
    assert "@ben" not in html


def test_search_reports_a_bad_cursor_instead_of_failing(page_a, creators):
    response = page_a.get(reverse("brands:creators"), {"cursor": "nonsense"})
    assert response.status_code == 400
    assert "Invalid cursor" in response.content.decode()


def test_create_a_campaign_then_invite_shortlisted_creators(page_a, brand_a, creators, categories):
    response = page_a.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Laughs", "currency": "USD", "budget": "2500.00", "target_countries": "us",
        "categories": [categories["comedy"].pk], "followers_min": 0, "min_engagement_rate": "0",
        "min_avg_views": 0, "starts_on": "2030-01-01", "ends_on": "2030-02-01", "status": "open"})
    campaign = Campaign.objects.get()
    assert response.url == reverse("brands:campaign", args=[campaign.pk])
    assert (campaign.budget_minor, campaign.target_countries) == (250_000, ["US"])
    detail = page_a.get(response.url).content.decode()
    assert "@ana" in detail
    assert "1 of 1 campaign categories" in detail

    page_a.post(reverse("brands:invite", args=[campaign.pk]), {"handle": ["ana", "ben"], "fee": "300.00",
                                                               "message": "Hi"})
    assert set(Invitation.objects.values_list("partner__handle", "offered_fee_minor")) == {("ana", 30_000),
                                                                                          ("ben", 30_000)}
    detail = page_a.get(response.url).content.decode()
    assert detail.count(">Withdraw<") == 2

    invitation = Invitation.objects.get(partner__handle="ana")
    page_a.post(reverse("brands:withdraw", args=[invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.WITHDRAWN


def test_a_campaign_ending_before_it_starts_is_refused(page_a, brand_a):
    html = page_a.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Backwards", "currency": "USD", "budget": "1.00", "followers_min": 0,
        "min_engagement_rate": "0", "min_avg_views": 0, "starts_on": "2030-02-01", "ends_on": "2030-01-01",
        "status": "draft"}).content.decode()
    assert "A campaign cannot end before it starts." in html
    assert Campaign.objects.count() == 0


def test_brand_b_pages_are_not_found_for_a(page_a, campaign_b, creators, user_b):
    from partnerships.marketplace import services
    invitation = services.invitation_create(user=user_b, campaign_id=campaign_b.pk, partner_handle="ben",
                                                  offered_fee_minor=1, currency="USD")
    assert page_a.get(reverse("brands:campaign", args=[campaign_b.pk])).status_code == 404
    invite = page_a.post(reverse("brands:invite", args=[campaign_b.pk]), {"handle": "cleo", "fee": "1"})
    assert invite.status_code == 404
    assert page_a.post(reverse("brands:withdraw", args=[invitation.pk])).status_code == 404
    assert "Nova secret launch" not in page_a.get(reverse("brands:campaigns")).content.decode()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.INVITED
    assert Invitation.objects.filter(campaign=campaign_b).count() == 1


def test_pages_never_show_private_fields(page_a, campaign_a, creators):
    for url in (reverse("brands:creators"), reverse("brands:campaign", args=[campaign_a.pk])):
        html = page_a.get(url).content.decode()
        for private in ("date_of_birth", "tax", "identity", "1994", "1995", "1996"):
            assert private not in html


def test_a_budget_in_a_decimal_comma_is_refused_on_its_field_and_nothing_is_created(page_a, brand_a):
    response = page_a.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Comma", "currency": "EUR", "budget": "2.500,00", "followers_min": 0,
        "min_engagement_rate": "0", "min_avg_views": 0, "starts_on": "2030-01-01", "ends_on": "2030-02-01",
        "status": "draft"})
    assert response.context["form"].errors["budget"] == [
        "“2.500,00” looks like a decimal comma; this field takes a point for decimals: type 2500.00"]
    assert Campaign.objects.count() == 0


def test_a_budget_is_read_in_the_chosen_currency(page_a, brand_a):
    response = page_a.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Yen", "currency": "JPY", "budget": "250,000", "followers_min": 0,
        "min_engagement_rate": "0", "min_avg_views": 0, "starts_on": "2030-01-01", "ends_on": "2030-02-01",
        "status": "draft"})
    assert response.status_code == 302
    assert Campaign.objects.values_list("budget_minor", "currency").get() == (250_000, "JPY")


def test_an_ambiguous_fee_is_shown_again_with_its_error_and_nobody_is_invited(page_a, campaign_a, creators):
    response = page_a.post(reverse("brands:invite", args=[campaign_a.pk]),
                           {"handle": ["ana"], "fee": "12,50", "message": "Hi"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "“12,50” looks like a decimal comma; this field takes a point for decimals: type 12.50" in html
    assert 'value="12,50" aria-invalid="true" aria-describedby="fee-error fee-help"' in html
    assert Invitation.objects.count() == 0

    response = page_a.post(reverse("brands:invite", args=[campaign_a.pk]), {"handle": ["ana"], "fee": "-1.00"})
    assert response.status_code == 400
    assert "−1.00 USD is below the least allowed here, 0.00 USD." in response.content.decode()
    assert Invitation.objects.count() == 0
