"""Brand matching in the admin: lists render, answers are recorded on the creator's behalf, tokens."""

import pytest
from django.urls import reverse

from partnerships.marketplace import services
from partnerships.models import ApiToken, Invitation
from partnerships.roles import ensure_groups

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(user_a, campaign_a, creators):
    return services.invitation_create(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben",
                                            offered_fee_minor=12_345, currency="USD")


@pytest.mark.parametrize("name", ["brand", "campaign", "invitation", "apitoken"])
def test_changelists_and_change_pages_render(client, superuser, invitation, token_a, name,
                                             django_assert_max_num_queries):
    client.force_login(superuser)
    with django_assert_max_num_queries(12):
        assert client.get(reverse(f"admin:partnerships_{name}_changelist")).status_code == 200
    obj = {"brand": invitation.campaign.brand, "campaign": invitation.campaign, "invitation": invitation,
           "apitoken": ApiToken.objects.first()}[name]
    assert client.get(reverse(f"admin:partnerships_{name}_change", args=[obj.pk])).status_code == 200


def test_invitation_list_shows_money_and_brand(client, superuser, invitation):
    client.force_login(superuser)
    html = client.get(reverse("admin:partnerships_invitation_changelist")).content.decode()
    assert "123.45 USD" in html
    assert "Acme" in html


def test_staff_record_an_acceptance_and_the_history_keeps_who(client, superuser, invitation):
    client.force_login(superuser)
    client.post(reverse("admin:partnerships_invitation_changelist"),
                {"action": "accept_selected", "_selected_action": [invitation.pk]})
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.history.first().history_user == superuser
    client.post(reverse("admin:partnerships_invitation_changelist"),
                {"action": "decline_selected", "_selected_action": [invitation.pk]})
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED  # an answer is final


def test_a_token_is_created_once_shown_and_stored_hashed(client, superuser, user_a, brand_a):
    client.force_login(superuser)
    response = client.post(reverse("admin:partnerships_apitoken_add"),
                           {"name": "crm", "brand": brand_a.pk, "user": user_a.pk}, follow=True)
    token = ApiToken.objects.get(name="crm")
    shown = [str(m) for m in response.context["messages"]]
    assert any("Copy it now" in m for m in shown)
    secret = next(m for m in shown if "Copy it now" in m).split("<code>")[1].split("</code>")[0]
    assert token.digest != secret
    assert secret not in "".join(ApiToken.objects.values_list("digest", "prefix").get(pk=token.pk))[10:]


def test_a_token_for_someone_who_is_not_a_brand_admin_is_refused(client, superuser, user_b, brand_a):
    client.force_login(superuser)
    response = client.post(reverse("admin:partnerships_apitoken_add"),
                           {"name": "x", "brand": brand_a.pk, "user": user_b.pk})
    assert "is not an admin of Acme" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_manager_can_see_brands_but_not_tokens(client, manager, invitation):
    ensure_groups()
    client.force_login(manager)
    for name in ("brand", "campaign", "invitation"):
        assert client.get(reverse(f"admin:partnerships_{name}_changelist")).status_code == 200
    assert client.get(reverse("admin:partnerships_apitoken_changelist")).status_code == 403


def test_the_migration_schedules_the_hourly_expiry(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Expire unanswered invitations (hourly)")
    assert (task.task, task.crontab.minute, task.crontab.hour, task.enabled) == (
        "partnerships.expire_invitations", "5", "*", True)


def test_campaign_admin_shows_the_budget_in_major_units_and_refuses_a_decimal_comma(client, superuser, campaign_a):
    from tests.payouts.test_money_input import page_data

    client.force_login(superuser)
    url = reverse("admin:partnerships_campaign_change", args=[campaign_a.pk])
    page = client.get(url)
    assert 'name="budget_minor" value="10,000.00"' in page.content.decode()
    data = page_data(page)
    data["budget_minor"] = "12,50"

    response = client.post(url, data)

    assert response.context["adminform"].form.errors["budget_minor"] == [
        "“12,50” looks like a decimal comma; this field takes a point for decimals: type 12.50"]
    data.update({"budget_minor": "12,500.50", "created_by": str(superuser.pk)})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign_a.refresh_from_db()
    assert campaign_a.budget_minor == 12_500_50
