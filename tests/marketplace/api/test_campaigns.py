"""Campaigns, matches, lookalikes and invitations through the API, and the refusals that change nothing."""

import pytest

from partnerships.models import Campaign, Invitation
from tests.marketplace.conftest import days

pytestmark = pytest.mark.django_db


def campaign_payload(**overrides):
    payload = {"brand": "acme", "name": "Back to school", "budget_minor": 500_000, "currency": "USD",
               "target_countries": ["US", "GB"], "categories": ["comedy"], "followers_min": 10_000,
               "followers_max": 1_000_000, "min_engagement_rate": "1.50", "min_avg_views": 1_000,
               "deliverables": "2 videos", "starts_on": str(days(1)), "ends_on": str(days(31)), "status": "open"}
    payload.update(overrides)
    return payload


def test_create_list_update_delete_a_campaign(api_a, brand_a, categories):
    created = api_a.post("/api/v1/campaigns/", campaign_payload(), format="json")
    assert created.status_code == 201, created.json()
    campaign = Campaign.objects.get()
    assert (campaign.brand, campaign.name, campaign.target_countries) == (brand_a, "Back to school", ["US", "GB"])
    assert [c["name"] for c in api_a.get("/api/v1/campaigns/").json()["results"]] == ["Back to school"]
    patched = api_a.patch(f"/api/v1/campaigns/{campaign.pk}/", {"name": "Back to school 2"}, format="json")
    assert patched.status_code == 200
    campaign.refresh_from_db()
    assert campaign.name == "Back to school 2"
    assert api_a.delete(f"/api/v1/campaigns/{campaign.pk}/").status_code == 204
    assert Campaign.objects.count() == 0


@pytest.mark.parametrize(("overrides", "field"), [
    ({"ends_on": str(days(0)), "starts_on": str(days(1))}, "ends_on"),
    ({"followers_min": 500, "followers_max": 100}, "followers_max"),
    ({"currency": "usd"}, "currency"),
    ({"target_countries": ["France"]}, "target_countries"),
    ({"budget_minor": -1}, "budget_minor"),
    ({"categories": ["knitting"]}, "categories"),
])
def test_bad_campaign_input_is_refused_and_nothing_is_saved(api_a, categories, overrides, field):
    response = api_a.post("/api/v1/campaigns/", campaign_payload(**overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Campaign.objects.count() == 0


def test_matches_rank_with_reasons_and_leave_out_the_invited(api_a, campaign_a, creators, hidden):
    response = api_a.get(f"/api/v1/campaigns/{campaign_a.pk}/matches/")
    assert response.status_code == 200
    ranked = response.json()
    assert ranked[0]["creator"]["handle"] == "ana"  # comedy, US, in range
    assert set(ranked[0]["breakdown"]) == {"category_fit", "country_fit", "follower_fit", "engagement",
                                           "average_views", "recent_activity"}
    assert ranked[0]["breakdown"]["category_fit"]["reason"] == "1 of 1 campaign categories"
    assert ranked[0]["breakdown"]["country_fit"]["reason"] == "in a target country"
    assert [m["score"] for m in ranked] == sorted((m["score"] for m in ranked), reverse=True)
    assert {m["creator"]["handle"] for m in ranked} <= set(creators)
    api_a.post("/api/v1/invitations/", {"campaign": campaign_a.pk, "partner_handle": "ana",
                                        "offered_fee_minor": 50_000, "currency": "USD"}, format="json")
    again = api_a.get(f"/api/v1/campaigns/{campaign_a.pk}/matches/").json()
    assert "ana" not in {m["creator"]["handle"] for m in again}


def test_similar_creators(api_a, creators, categories):
    response = api_a.get("/api/v1/creators/ana/similar/")
    assert response.status_code == 200
    assert response.json()[0]["handle"] == "ben"  # shares comedy
    assert "ana" not in [row["handle"] for row in response.json()]
    assert api_a.get("/api/v1/creators/optedout/similar/").status_code == 404


def invite(client, campaign, handle="ben", **overrides):
    payload = {"campaign": campaign.pk, "partner_handle": handle, "offered_fee_minor": 75_000, "currency": "USD",
               "message": "Join us"}
    payload.update(overrides)
    return client.post("/api/v1/invitations/", payload, format="json")


def test_invite_list_and_withdraw(api_a, campaign_a, creators, user_a):
    created = invite(api_a, campaign_a)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["creator"], body["status"], body["offered_fee_minor"]) == ("ben", "invited", 75_000)
    invitation = Invitation.objects.get()
    assert invitation.invited_by == user_a
    assert (invitation.expires_at - invitation.invited_at).days == 7
    listed = api_a.get("/api/v1/invitations/", {"campaign": campaign_a.pk, "status": "invited"}).json()["results"]
    assert [row["creator"] for row in listed] == ["ben"]
    withdrawn = api_a.post(f"/api/v1/invitations/{invitation.pk}/withdraw/")
    assert withdrawn.json()["status"] == "withdrawn"
    again = api_a.post(f"/api/v1/invitations/{invitation.pk}/withdraw/")
    assert again.status_code == 400
    assert "only an invitation still waiting" in again.json()["detail"]


@pytest.mark.parametrize(("handle", "overrides", "message"), [
    ("ben", {"currency": "EUR"}, "The fee must be in the campaign's currency (USD), not EUR."),
    ("optedout", {}, "@optedout cannot be invited: they are not available for brand deals."),
    ("minor", {}, "@minor cannot be invited"),
    ("nobody", {}, "@nobody cannot be invited"),
])
def test_bad_invitations_are_refused_and_nothing_is_saved(api_a, campaign_a, creators, hidden, handle, overrides,
                                                          message):
    response = invite(api_a, campaign_a, handle, **overrides)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert Invitation.objects.count() == 0


def test_a_duplicate_invitation_is_refused(api_a, campaign_a, creators):
    assert invite(api_a, campaign_a).status_code == 201
    response = invite(api_a, campaign_a)
    assert response.status_code == 400
    assert response.json()["detail"] == "@ben was already invited to “Acme summer”."
    assert Invitation.objects.count() == 1


def test_only_open_campaigns_take_invitations(api_a, campaign_a, creators):
    Campaign.objects.filter(pk=campaign_a.pk).update(status=Campaign.Status.DRAFT)
    response = invite(api_a, campaign_a)
    assert response.status_code == 400
    assert "is draft: creators are invited to open campaigns only" in response.json()["detail"]


def test_expiry_task_expires_only_overdue_invitations(api_a, campaign_a, creators):
    import datetime as dt

    from django.utils import timezone

    from partnerships.tasks import expire_invitations_task
    invite(api_a, campaign_a, "ben")
    invite(api_a, campaign_a, "cleo")
    Invitation.objects.filter(partner__handle="ben").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert expire_invitations_task.name == "partnerships.expire_invitations"
    assert expire_invitations_task.apply().get() == 1
    assert dict(Invitation.objects.values_list("partner__handle", "status")) == {"ben": "expired", "cleo": "invited"}
    assert expire_invitations_task.apply().get() == 0
