"""A user of brand A can read, list, filter, match, shortlist, invite or change nothing of brand B's, by any route,
and no response or schema carries a partner's private fields."""

import json

import pytest

from partnerships.models import Campaign, Invitation

pytestmark = pytest.mark.django_db
PRIVATE = ("date_of_birth", "tax_form_on_file", "identity_verified", "age_verified", "status_reason",
           "payout", "email")


@pytest.fixture
def invitation_b(campaign_b, creators, user_b):
    from partnerships.marketplace import services
    return services.invitation_create(user=user_b, campaign_id=campaign_b.pk, partner_handle="ben",
                                            offered_fee_minor=1, currency="USD")


def test_brand_b_campaigns_are_not_found_for_a(api_a, campaign_a, campaign_b):
    listed = [c["id"] for c in api_a.get("/api/v1/campaigns/").json()["results"]]
    assert listed == [campaign_a.pk]
    for method, path in [("get", f"/api/v1/campaigns/{campaign_b.pk}/"),
                         ("get", f"/api/v1/campaigns/{campaign_b.pk}/matches/"),
                         ("get", f"/api/v1/campaigns/{campaign_b.pk}/shortlist/"),
                         ("post", f"/api/v1/campaigns/{campaign_b.pk}/shortlist/"),
                         ("delete", f"/api/v1/campaigns/{campaign_b.pk}/shortlist/ben/"),
                         ("patch", f"/api/v1/campaigns/{campaign_b.pk}/"),
                         ("put", f"/api/v1/campaigns/{campaign_b.pk}/"),
                         ("delete", f"/api/v1/campaigns/{campaign_b.pk}/")]:
        data = {"name": "hijacked"} if method in ("patch", "put") else {"handle": "ben"} if method == "post" else None
        response = getattr(api_a, method)(path, data, format="json")
        assert response.status_code == 404, (method, path)
    campaign_b.refresh_from_db()
    assert campaign_b.name == "Nova secret launch"


def test_a_cannot_create_a_campaign_for_brand_b(api_a, brand_b):
    response = api_a.post("/api/v1/campaigns/", {
        "brand": "nova", "name": "x", "budget_minor": 1, "currency": "USD", "starts_on": "2030-01-01",
        "ends_on": "2030-01-02"}, format="json")
    assert response.status_code == 400
    assert "brand" in response.json()
    assert not Campaign.objects.filter(brand=brand_b).exists()


def test_brand_b_invitations_are_invisible_and_untouchable(api_a, invitation_b, campaign_b):
    assert api_a.get("/api/v1/invitations/").json()["results"] == []
    filtered = api_a.get("/api/v1/invitations/", {"campaign": campaign_b.pk})
    assert filtered.status_code == 400  # B's campaign id is not a valid choice for A
    assert "Nova" not in json.dumps(filtered.json())
    assert api_a.get(f"/api/v1/invitations/{invitation_b.pk}/").status_code == 404
    assert api_a.post(f"/api/v1/invitations/{invitation_b.pk}/withdraw/").status_code == 404
    invitation_b.refresh_from_db()
    assert invitation_b.status == Invitation.Status.INVITED


def test_a_cannot_invite_into_brand_b_campaign(api_a, campaign_b, creators):
    response = api_a.post("/api/v1/invitations/", {"campaign": campaign_b.pk, "partner_handle": "cleo",
                                                   "offered_fee_minor": 1, "currency": "USD"}, format="json")
    assert response.status_code == 400
    assert "campaign" in response.json()
    assert not Invitation.objects.filter(campaign=campaign_b).exists()


def test_a_token_of_brand_a_cannot_reach_the_users_other_brand(user_a, brand_a, brand_b, campaign_b, creators):
    """A user in two brands, with a token for A: the token acts for A only."""
    from rest_framework.test import APIClient

    from partnerships.marketplace import services
    from partnerships.models import BrandMembership
    BrandMembership.objects.create(brand=brand_b, user=user_a)
    token, secret = services.api_token_create(user=user_a, brand_id=brand_a.pk, name="a-only")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get(f"/api/v1/campaigns/{campaign_b.pk}/").status_code == 404
    assert client.get("/api/v1/campaigns/").json()["results"] == []


def test_no_private_field_in_responses_or_schema(api_a, campaign_a, creators):
    api_a.post(f"/api/v1/campaigns/{campaign_a.pk}/shortlist/", {"handle": "ana"}, format="json")
    bodies = [api_a.get(path).content.decode() for path in (
        "/api/v1/creators/", f"/api/v1/campaigns/{campaign_a.pk}/matches/", "/api/v1/creators/ana/similar/",
        f"/api/v1/campaigns/{campaign_a.pk}/shortlist/")]
    schema = api_a.get("/api/v1/schema/").content.decode()
    for text in [*bodies, schema]:
        for field in PRIVATE:
            assert field not in text
