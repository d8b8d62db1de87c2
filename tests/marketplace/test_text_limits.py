"""Text a brand writes is bounded in the form, the serializer, the service and the database; a refusal names the
field and writes nothing."""

import pytest
from django.db import DataError, IntegrityError, transaction
from django.urls import reverse

from partnerships.marketplace import services
from partnerships.models import (
    CAMPAIGN_BRIEF_MAX,
    INVITATION_MESSAGE_MAX,
    SHORTLIST_NOTE_MAX,
    Campaign,
    Invitation,
    ShortlistEntry,
)
from tests.marketplace.api.test_campaigns import campaign_payload, invite
from tests.marketplace.factories import CampaignFactory

pytestmark = pytest.mark.django_db
TWO_MIB = "x" * (2 << 20)


def test_a_2_mib_invitation_message_is_a_400_naming_the_field_and_nothing_is_written(api_a, campaign_a, creators):
    response = invite(api_a, campaign_a, message=TWO_MIB)
    assert response.status_code == 400
    assert response.json() == {"message": [f"Ensure this field has no more than {INVITATION_MESSAGE_MAX} characters."]}
    assert not Invitation.objects.exists()


def test_a_message_at_the_limit_is_accepted(api_a, campaign_a, creators):
    assert invite(api_a, campaign_a, message="m" * INVITATION_MESSAGE_MAX).status_code == 201


def test_a_campaign_brief_past_the_limit_is_a_400_naming_the_field(api_a, brand_a, categories):
    response = api_a.post("/api/v1/campaigns/", campaign_payload(brief="b" * (CAMPAIGN_BRIEF_MAX + 1)), format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["brief"]
    assert not Campaign.objects.exists()


def test_a_shortlist_note_past_the_limit_is_a_400_naming_the_field(api_a, campaign_a, creators):
    response = api_a.post(f"/api/v1/campaigns/{campaign_a.pk}/shortlist/",
                          {"handle": "ben", "note": "n" * (SHORTLIST_NOTE_MAX + 1)}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["note"]
    assert not ShortlistEntry.objects.exists()


def test_the_invite_page_refuses_a_long_message_naming_the_field(client, user_a, campaign_a, creators):
    client.force_login(user_a)
    response = client.post(reverse("brands:invite", args=[campaign_a.pk]),
                           {"handle": ["ana", "ben"], "fee": "300.00", "message": TWO_MIB}, follow=True)
    assert response.status_code == 200
    assert f"Message: at most {INVITATION_MESSAGE_MAX} characters" in response.content.decode()
    assert not Invitation.objects.exists()


def test_the_campaign_form_refuses_a_long_brief(client, user_a, brand_a):
    client.force_login(user_a)
    html = client.post(reverse("brands:campaigns"), {
        "brand": brand_a.pk, "name": "Long", "brief": "b" * (CAMPAIGN_BRIEF_MAX + 1), "currency": "USD",
        "budget": "1.00", "followers_min": 0, "min_engagement_rate": "0", "min_avg_views": 0,
        "starts_on": "2030-01-01", "ends_on": "2030-02-01", "status": "draft"}).content.decode()
    assert f"Ensure this value has at most {CAMPAIGN_BRIEF_MAX} characters" in html.replace("&#x27;", "'")
    assert not Campaign.objects.exists()


def test_the_service_refuses_long_text_from_any_caller(user_a, campaign_a, creators):
    with pytest.raises(services.MarketplaceError, match="^message: at most 2000 characters"):
        services.invitation_create(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben",
                                         offered_fee_minor=1, currency="USD", message=TWO_MIB)
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(("field", "limit"), [("brief", CAMPAIGN_BRIEF_MAX), ("name", 160)])
def test_the_database_refuses_text_past_the_limit(brand_a, field, limit):
    campaign = CampaignFactory(brand=brand_a)
    # PostgreSQL's varchar refuses a long name itself (DataError); the length checks refuse the rest.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(**{field: "z" * (limit + 1)})
    campaign.refresh_from_db()
    assert len(getattr(campaign, field)) <= limit
