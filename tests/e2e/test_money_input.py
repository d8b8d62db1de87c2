"""Money typed in a real browser: refused when ambiguous with the error on the field, shown back in major units."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from partnerships.models import BrandMembership, Campaign, Invitation
from payouts.roles import ensure_group_permissions
from tests.e2e.conftest import admin_login
from tests.marketplace.conftest import creator
from tests.marketplace.factories import BrandFactory, CampaignFactory
from tests.partnerships.factories import CategoryFactory, UserFactory
from tests.payouts.factories import paying_program

pytestmark = pytest.mark.django_db(transaction=True)


def test_brand_user_types_a_decimal_comma_fee_sees_what_was_understood_then_types_a_point(page):
    comedy = CategoryFactory(slug="comedy")
    creator("eve", followers=80_000, country="US", categories=[comedy])
    brand = BrandFactory(slug="acme", name="Acme")
    BrandMembership.objects.create(brand=brand, user=UserFactory(username="alice", is_staff=False),
                                   role=BrandMembership.Role.ADMIN)
    campaign = CampaignFactory(brand=brand, name="Acme summer", status=Campaign.Status.OPEN, target_countries=["US"],
                               currency="USD")
    campaign.categories.set([comedy])

    page.goto("/brands/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.goto(reverse("brands:campaign", args=[campaign.pk]))

    page.check("#pick-eve")
    page.fill("#fee", "12,50")
    page.click("button:text-is('Invite picked creators')")
    error = page.inner_text("#fee-error")
    assert "“12,50” looks like a decimal comma" in error
    assert "type 12.50" in error
    assert page.get_attribute("#fee", "aria-invalid") == "true"
    assert page.input_value("#fee") == "12,50"  # as typed, beside its error
    assert page.is_checked("#pick-eve")  # the ticked creator stays ticked
    assert Invitation.objects.count() == 0

    page.fill("#fee", "12.50")
    page.click("button:text-is('Invite picked creators')")
    assert "@eve invited." in page.inner_text(".messages")
    assert "12.50 USD" in page.inner_text("h2:text-is('Invitations') + table")
    assert list(Invitation.objects.values_list("offered_fee_minor", "currency")) == [(12_50, "USD")]


def test_finance_approver_types_a_fund_total_with_a_reason_and_sees_it_in_major_units(page, screenshot):
    user = UserFactory(username="finance", groups=["Finance approvers"])
    ensure_group_permissions()
    # Changing funds stays a separate permission, given here to this approver.
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="payouts",
        codename__in=["change_fund", "add_budgettranche", "change_budgettranche", "delete_budgettranche"]))
    program = paying_program(fund_total=50_000_000_00)
    fund = program.fund

    admin_login(page, "finance")
    page.goto(reverse("admin:payouts_fund_change", args=[fund.pk]))
    assert page.input_value("#id_total_minor") == "50,000,000.00"
    assert "USD" in page.inner_text(".field-total_minor")

    page.fill("#id_total_minor", "100,000,000.00")
    page.fill("#id_change_reason", "Second year of the fund approved")
    page.click("input[name=_continue]")

    assert "changed successfully" in page.inner_text(".messagelist")
    assert page.input_value("#id_total_minor") == "100,000,000.00"
    assert "USD" in page.inner_text(".field-total_minor")
    history = page.inner_text(".field-versions")
    for text in ("finance", "Second year of the fund approved", "total: 50,000,000.00 USD → 100,000,000.00 USD"):
        assert text in history
    screenshot(page, "fund-total-changed")
    page.goto(reverse("admin:payouts_fund_changelist"))
    assert "100,000,000.00 USD" in page.inner_text("#result_list")
    fund.refresh_from_db()
    assert fund.total_minor == 100_000_000_00
