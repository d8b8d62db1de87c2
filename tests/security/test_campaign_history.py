"""History is kept: a campaign creators answered is closed (archived), never deleted — through the API, the brand
pages or the admin."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from partnerships.marketplace import services
from partnerships.models import Campaign, Invitation

pytestmark = pytest.mark.django_db


def invite(campaign, partner, status):
    now = timezone.now()
    return Invitation.objects.create(campaign=campaign, partner=partner, offered_fee_minor=50_000, currency="USD",
                                     status=status, invited_at=now, expires_at=now + timezone.timedelta(days=7),
                                     responded_at=None if status == Invitation.Status.INVITED else now)


@pytest.mark.parametrize("status", [Invitation.Status.ACCEPTED, Invitation.Status.DECLINED])
def test_api_refuses_to_delete_an_answered_campaign_and_deletes_nothing(api_a, campaign_a, creators, status):
    invitation = invite(campaign_a, creators["ana"], status)

    response = api_a.delete(f"/api/v1/campaigns/{campaign_a.pk}/")

    assert response.status_code == 409
    assert response.json() == {"detail": services.CAMPAIGN_HAS_HISTORY.format(campaign="Acme summer", count=1)}
    assert "Close (archive) the campaign instead" in response.json()["detail"]
    assert Campaign.objects.filter(pk=campaign_a.pk).exists()
    assert Invitation.objects.filter(pk=invitation.pk, status=status).exists()


def test_a_campaign_with_only_withdrawn_invitations_can_still_be_deleted(api_a, campaign_a, creators):
    invite(campaign_a, creators["ana"], Invitation.Status.WITHDRAWN)
    assert api_a.delete(f"/api/v1/campaigns/{campaign_a.pk}/").status_code == 204
    assert not Campaign.objects.exists()


def test_archive_closes_and_keeps_everything(api_a, campaign_a, creators):
    invitation = invite(campaign_a, creators["ana"], Invitation.Status.ACCEPTED)

    response = api_a.post(f"/api/v1/campaigns/{campaign_a.pk}/archive/")

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    campaign_a.refresh_from_db()
    assert campaign_a.status == Campaign.Status.CLOSED
    assert Invitation.objects.get(pk=invitation.pk).status == Invitation.Status.ACCEPTED
    again = api_a.post(f"/api/v1/campaigns/{campaign_a.pk}/archive/")
    assert again.status_code == 400
    assert again.json() == {"detail": services.ALREADY_CLOSED.format(campaign="Acme summer")}


def test_another_brands_campaign_cannot_be_archived(api_a, user_b, brand_b):
    from tests.marketplace.factories import CampaignFactory

    other = CampaignFactory(brand=brand_b, status=Campaign.Status.OPEN)
    assert api_a.post(f"/api/v1/campaigns/{other.pk}/archive/").status_code == 404
    other.refresh_from_db()
    assert other.status == Campaign.Status.OPEN


def test_brand_page_closes_a_campaign(client, user_a, campaign_a, creators):
    client.force_login(user_a)
    page = client.get(reverse("brands:campaign", args=[campaign_a.pk])).content.decode()
    assert "Close campaign" in page

    response = client.post(reverse("brands:campaign_close", args=[campaign_a.pk]))

    assert response.status_code == 302
    campaign_a.refresh_from_db()
    assert campaign_a.status == Campaign.Status.CLOSED
    assert "Close campaign" not in client.get(response.url).content.decode()


def test_admin_cannot_delete_an_answered_campaign(superuser, campaign_a, creators, brand_a):
    from tests.marketplace.factories import CampaignFactory

    invite(campaign_a, creators["ana"], Invitation.Status.ACCEPTED)
    unanswered = CampaignFactory(brand=brand_a)
    staff = Client()
    staff.force_login(superuser)

    assert staff.get(reverse("admin:partnerships_campaign_delete", args=[campaign_a.pk])).status_code == 403
    # The bulk action checks each object's delete permission: a selection holding one is refused as a whole.
    response = staff.post(reverse("admin:partnerships_campaign_changelist"), {
        "action": "delete_selected", "_selected_action": [campaign_a.pk, unanswered.pk], "post": "yes"})
    assert response.status_code == 403
    assert set(Campaign.objects.values_list("pk", flat=True)) == {campaign_a.pk, unanswered.pk}
    assert Invitation.objects.filter(campaign=campaign_a).count() == 1

    response = staff.post(reverse("admin:partnerships_campaign_changelist"), {
        "action": "delete_selected", "_selected_action": [unanswered.pk], "post": "yes"})
    assert response.status_code == 302
    assert list(Campaign.objects.values_list("pk", flat=True)) == [campaign_a.pk]
