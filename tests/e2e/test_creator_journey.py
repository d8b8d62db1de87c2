"""The creator's journey in a real browser, with a real SMTP server receiving the e-mails: a manager sends the
account link, the creator claims the account from the e-mail, applies and sees it pending; the manager approves in
the admin; the creator gets the e-mail and sees "Approved"; a brand invites the creator, who accepts with a message;
the brand sees "Accepted". The creator's pages at a phone's width (390 px)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from creators.roles import ensure_group_permissions
from partnerships.models import BrandMembership, Campaign, Enrolment, Invitation
from tests.creators.conftest import _eager_tasks, smtp  # noqa: F401  (SMTP server; tasks in process, even with a broker)
from tests.e2e.conftest import admin_login, checked
from tests.e2e.test_journeys import expect_text
from tests.marketplace.factories import BrandFactory, CampaignFactory
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory, ProgramFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long and good password 7"


def link_in(inbox, address: str, pattern: str) -> str:
    message = inbox.to(address)[-1]
    return re.search(pattern, inbox.text(message)).group(0)


def test_claim_apply_approved_invited_accepted(page, browser, live_server, smtp, settings, screenshot):  # noqa: F811
    settings.SITE_URL = live_server.url
    UserFactory(username="manager", groups=["Partnership managers"])
    ensure_group_permissions()  # the portal's part of the group (a flushed database lost the migration's grant)
    partner = PartnerFactory(handle="maya", opted_into_brand_deals=True)
    for days in range(1, 6):  # statistics the eligibility and the brands' search read (refreshed on applying)
        DailyMetricFactory(partner=partner, day=timezone.localdate() - dt.timedelta(days=days), followers=50_000,
                           views=2_000, posts=1)
    program = ProgramFactory(name="Creator Fund")
    brand = BrandFactory(slug="acme", name="Acme")
    BrandMembership.objects.create(brand=brand, user=UserFactory(username="alice", email="alice@acme.example",
                                                                 is_staff=False), role=BrandMembership.Role.ADMIN)
    campaign = CampaignFactory(brand=brand, name="Acme summer", status=Campaign.Status.OPEN, brief="Summer videos")

    # The manager sends the account link from the partner's admin page.
    admin_login(page, "manager")
    page.goto(reverse("admin:creators_partner_claim_link", args=[partner.pk]))
    page.fill("#id_email", "maya@example.org")
    page.click("input[type=submit]")
    expect_text(page, ".messagelist", "An account link for @maya was sent to maya@example.org")

    # The creator claims the account from the e-mail, on a phone.
    phone = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    creator_page = checked(phone.new_page())
    creator_page.set_default_timeout(15_000)
    creator_page.goto(link_in(smtp, "maya@example.org", r"http://\S+/creators/claim/\S+/"))
    creator_page.fill("#id_password1", PASSWORD)
    creator_page.fill("#id_password2", PASSWORD)
    creator_page.click("button[type=submit]")
    expect_text(creator_page, "h1", "Programs")

    creator_page.click(f"#program-{program.pk} button:text-is('Apply')")
    expect_text(creator_page, ".messages", "your application is pending")
    expect_text(creator_page, f"#program-{program.pk}", "Submitted")
    screenshot(creator_page, "creator-programs-390px")
    assert creator_page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling

    # The manager approves in the admin.
    enrolment = Enrolment.objects.get(partner=partner, program=program)
    page.goto(reverse("admin:partnerships_enrolment_changelist"))
    page.check(f"input.action-select[value='{enrolment.pk}']")
    page.select_option("select[name=action]", "approve_selected")
    page.click("button[name=index]")
    page.fill("#id_reason", "Welcome aboard")
    page.click("input[type=submit][value=Approve]")
    expect_text(page, ".messagelist", "approved")

    # The creator receives the e-mail and sees "Approved".
    assert smtp.to("maya@example.org")[-1]["Subject"].endswith("Your application to Creator Fund: Approved")
    creator_page.goto(link_in(smtp, "maya@example.org", r"http://\S+/creators/programs/"))
    expect_text(creator_page, f"#program-{program.pk}", "Approved", "Welcome aboard")

    # A brand invites the creator from its pages.
    page.goto("/brands/login/")
    page.context.clear_cookies()
    page.goto("/brands/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.goto(f"/brands/campaigns/{campaign.pk}/")
    page.check("#pick-maya")
    page.fill("#fee", "750.00")
    page.click("button:text-is('Invite picked creators')")
    expect_text(page, ".messages", "@maya invited.")

    # The creator opens the invitation from the e-mail and accepts with a message.
    invitation = Invitation.objects.get(partner=partner, campaign=campaign)
    creator_page.goto(link_in(smtp, "maya@example.org", r"http://\S+/creators/invitations/\d+/"))
    expect_text(creator_page, "main", "Acme summer", "Summer videos", "750.00 USD")
    creator_page.fill("#id_message", "Happy to do it")
    creator_page.click("button:text-is('Accept')")
    expect_text(creator_page, ".messages", "Your answer was sent to the brand.")
    screenshot(creator_page, "creator-invitation-390px")
    creator_page.goto(reverse("creators:earnings"))  # checked at 390 px like every creator page
    expect_text(creator_page, "h1", "Earnings")
    screenshot(creator_page, "creator-earnings-390px")
    for name, heading in (("creators:invitations", "invitations"), ("creators:profile", "Profile"),
                          ("creators:preferences", "notifications")):
        creator_page.goto(reverse(name))  # each checked at 390 px (and 1440 px) as it loads
        expect_text(creator_page, "h1", heading)

    # The brand is told, and sees "Accepted" with the message.
    assert smtp.to("alice@acme.example")[-1]["Subject"].endswith("@maya accepted your invitation to Acme summer")
    page.goto(f"/brands/campaigns/{campaign.pk}/")
    expect_text(page, "h2:text-is('Invitations') + table", "@maya", "Accepted", "Happy to do it")
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    phone.close()
