"""Staff identities never reach brands: what platform staff did shows as "Platform staff" in the API and pages."""

import pytest
from django.urls import reverse

from partnerships.marketplace.selectors import PLATFORM_STAFF
from partnerships.models import ShortlistEntry
from tests.partnerships.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(campaign_a, creators, user_a):
    superuser = UserFactory(username="super.sam", is_staff=False, is_superuser=True)
    staff_member = UserFactory(username="manager.jane", is_staff=True)
    ShortlistEntry.objects.create(campaign=campaign_a, partner=creators["ana"], added_by=superuser, note="by su")
    ShortlistEntry.objects.create(campaign=campaign_a, partner=creators["ben"], added_by=staff_member, note="staff")
    ShortlistEntry.objects.create(campaign=campaign_a, partner=creators["cleo"], added_by=user_a, note="member")


def test_the_api_shows_platform_staff_instead_of_staff_usernames(api_a, campaign_a, entries):
    response = api_a.get(f"/api/v1/campaigns/{campaign_a.pk}/shortlist/")

    assert response.status_code == 200
    assert [(e["note"], e["added_by"]) for e in response.json()] == [
        ("by su", PLATFORM_STAFF), ("staff", PLATFORM_STAFF), ("member", "alice")]
    body = response.content.decode()
    assert "super.sam" not in body
    assert "manager.jane" not in body


def test_the_campaign_page_shows_platform_staff_instead_of_staff_usernames(client, user_a, campaign_a, entries):
    client.force_login(user_a)
    html = client.get(reverse("brands:campaign", args=[campaign_a.pk])).content.decode()

    assert html.count(PLATFORM_STAFF) == 2
    assert "manager.jane" not in html
    assert "super.sam" not in html
