"""The three kinds of user through their day, in a real browser, and the admin's dashboard."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from ingestion.models import ImportJob
from partnerships.models import BrandMembership, Campaign, Enrolment, Invitation
from payouts.models import PayoutRun
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve
from tests.e2e.conftest import admin_login
from tests.marketplace.conftest import creator
from tests.marketplace.factories import BrandFactory, CampaignFactory
from tests.partnerships.factories import (
    CategoryFactory,
    DailyMetricFactory,
    EnrolmentFactory,
    PartnerFactory,
    ProgramFactory,
    UserFactory,
)
from tests.payouts.factories import MONTH, member, paying_program
from tests.second_factor import current_code

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def phone_width(page):
    """The page at a phone's 390 × 844 for the block, then back at its width."""
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        yield page
    finally:
        page.set_viewport_size(size)


def expect_text(page, selector: str, *texts: str) -> str:
    content = page.inner_text(selector)
    for text in texts:
        assert text in content, f"{text!r} not in {selector}: {content!r}"
    return content


# --- a partnership manager works through the application queue --------------------------------------

def test_manager_filters_the_queue_bulk_rejects_with_a_reason_and_sees_the_history(page, screenshot):
    UserFactory(username="manager", groups=["Partnership managers"])
    fund, grants = ProgramFactory(name="Creator Fund"), ProgramFactory(name="Educator grants")
    waiting = [EnrolmentFactory(program=fund, partner=PartnerFactory(handle=h)) for h in ("ana", "ben", "cleo")]
    EnrolmentFactory(program=grants, partner=PartnerFactory(handle="dora"))
    EnrolmentFactory(program=fund, partner=PartnerFactory(handle="eli"), status=Enrolment.Status.APPROVED)

    admin_login(page, "manager")
    page.goto(reverse("admin:partnerships_enrolment_changelist"))
    page.click("#changelist-filter a:text-is('Creator Fund')")
    page.click("#changelist-filter a:text-is('Submitted')")
    rows = page.inner_text("#result_list tbody")
    assert all(f"@{h}" in rows for h in ("ana", "ben", "cleo"))
    assert "@dora" not in rows  # another program
    assert "@eli" not in rows  # not waiting
    screenshot(page, "queue")

    for enrolment in waiting[:2]:
        page.check(f"input.action-select[value='{enrolment.pk}']")
    page.select_option("select[name=action]", "reject_selected")
    page.click("button[name=index]")
    expect_text(page, "#content-main", "You are about to reject 2 applications", "@ana", "@ben")
    page.fill("#id_reason", "Too few original posts this month")
    page.click("input[type=submit][value=Reject]")

    expect_text(page, ".messagelist", "2 applications rejected", "@ana", "@ben")
    assert Enrolment.objects.get(pk=waiting[2].pk).status == Enrolment.Status.SUBMITTED  # not selected, untouched

    page.goto(reverse("admin:partnerships_enrolment_change", args=[waiting[0].pk]))
    expect_text(page, "#content-main", "Rejected", "Too few original posts this month", "manager")
    page.click("a.historylink")
    history = expect_text(page, "#change-history", "Rejected: Too few original posts this month", "manager")
    assert history.count("Rejected:") == 1


# --- a finance approver reviews a run someone else started, approves it and exports the payment file ---

def test_finance_reviews_approves_a_run_started_by_someone_else_and_exports_the_payment_file(page, screenshot):
    starter = UserFactory(username="starter", groups=["Finance approvers"])
    approver = UserFactory(username="approver", groups=["Finance approvers"])
    authenticator = TOTPDevice.objects.create(user=approver, name="phone", confirmed=True)
    ensure_group_permissions()
    program = paying_program(partner_cap_minor=5_000_00)
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=starter)
    assert run.status == PayoutRun.Status.COMPUTED

    admin_login(page, "approver", code=current_code(authenticator))  # approving needs a verified second factor
    expect_text(page, "#panel-runs", f"August 2026 · {program.name}", "10,000.00 USD", "starter")
    page.click(f"#panel-runs a:text-is('August 2026 · {program.name}')")
    expect_text(page, "#content-main", "Computed, awaiting approval", "lines sum to the budget: 10,000.00 USD",
                "starter")
    screenshot(page, "run-review")

    page.click("text=Review the 3 lines")
    lines = expect_text(page, "#result_list", "5,000.00 USD", "3,750.00 USD", "1,250.00 USD")
    assert lines.count("Payable") == 3
    page.go_back()

    page.click(".object-tools a:text-is('Approve…')")
    page.click("input[type=submit][value=Approve]")
    expect_text(page, ".messagelist", "approve done")
    expect_text(page, "#content-main", "Approved", "approver")

    with page.expect_download() as download_info:
        page.click(".object-tools a:text-is('Payment file (CSV)')")
    download = download_info.value
    assert download.suggested_filename == f"payments-{program.slug}-2026-08.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    assert sorted((row["partner"], row["amount"]) for row in rows) == [("a", "5000.00"), ("b", "3750.00"),
                                                                       ("c", "1250.00")]
    run.refresh_from_db()
    assert (run.status, run.approved_by.username, run.started_by.username) == ("approved", "approver", "starter")


# --- a brand user searches creators, opens a campaign's matches and invites one ------------------------

def test_brand_user_searches_with_filters_opens_matches_and_invites(page, screenshot):
    comedy, beauty = CategoryFactory(slug="comedy"), CategoryFactory(slug="beauty")
    creator("ana", followers=12_000, country="US", categories=[comedy])
    creator("eve", followers=80_000, country="US", categories=[comedy])
    creator("ben", followers=120_000, country="FR", categories=[comedy])
    creator("cleo", followers=2_000_000, country="US", categories=[beauty])
    brand = BrandFactory(slug="acme", name="Acme")
    BrandMembership.objects.create(brand=brand, user=UserFactory(username="alice", is_staff=False),
                                   role=BrandMembership.Role.ADMIN)
    campaign = CampaignFactory(brand=brand, name="Acme summer", status=Campaign.Status.OPEN, target_countries=["US"],
                               followers_min=10_000, followers_max=500_000)
    campaign.categories.set([comedy])
    CampaignFactory(brand=BrandFactory(slug="nova"), name="Nova secret launch", status=Campaign.Status.OPEN)

    page.goto("/brands/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    expect_text(page, "h1", "Search creators")
    results = page.inner_text("table tbody")
    assert all(f"@{h}" in results for h in ("ana", "eve", "ben", "cleo"))
    expect_text(page, "#result-count", "4 creators match these filters.")
    screenshot(page, "brand-search")
    with phone_width(page):
        # On a phone each creator is a card with the deciding metrics in view, never a table to scroll sideways.
        card = page.locator("table.cards tbody tr").first
        assert card.bounding_box()["width"] <= 390
        for metric in ("Followers", "Average views", "Engagement"):
            cell = card.locator(f"td[data-label='{metric}']")
            assert cell.is_visible()
            box = cell.bounding_box()
            assert box["x"] >= 0, (metric, box)
            assert box["x"] + box["width"] <= 390, (metric, box)
        expect_text(page, "table.cards tbody tr:first-child", "2,000,000", "%")
        screenshot(page, "brand-search-phone")

    page.fill("#country", "us")  # understood as US
    page.select_option("#category", "comedy")
    page.fill("#id_followers_min", "20000")
    page.click("form.filters button[type=submit]")
    results = page.inner_text("table tbody")
    assert "@eve" in results
    assert not any(f"@{h}" in results for h in ("ana", "ben", "cleo"))  # too small, France, beauty

    page.click("a[aria-label='Creators like @eve']")  # lookalikes, from the result
    expect_text(page, "h1", "Creators like @eve")
    lookalikes = page.inner_text("table tbody")
    assert lookalikes.index("@ana") < lookalikes.index("@cleo")  # same category and country first
    page.go_back()

    page.click("nav a:text-is('Campaigns')")
    campaigns = page.inner_text("table tbody")
    assert "Acme summer" in campaigns
    assert "Nova secret launch" not in campaigns  # another brand's campaign
    page.click("a:text-is('Acme summer')")
    expect_text(page, "form table tbody", "@ana", "@eve", " of ")  # each match ranked with its reasons
    with phone_width(page):
        screenshot(page, "brand-campaign-phone")

    # Keep ana in mind on the campaign's shortlist, without inviting her yet.
    page.check("#pick-ana")
    page.fill("#note", "Smaller, but on brief")
    page.click("button:text-is('Add to shortlist')")
    expect_text(page, ".messages", "@ana added to the shortlist")
    expect_text(page, "table[aria-labelledby=shortlist-heading] tbody", "@ana", "Smaller, but on brief", "alice")

    page.check("#pick-eve")
    page.fill("#fee", "750.00")
    page.fill("#message", "Three videos in July?")
    page.click("button:text-is('Invite picked creators')")
    expect_text(page, ".messages", "@eve invited.")
    invitations = page.inner_text("h2:text-is('Invitations') + table")
    assert all(text in invitations for text in ("@eve", "750.00 USD", "Invited"))
    assert "@ana" not in invitations
    assert "@eve" not in page.inner_text("form table tbody")  # invited creators leave the matches

    # Then invite ana from the shortlist: she moves to the invitations.
    page.fill("#fee-ana", "300.00")
    page.click("table[aria-labelledby=shortlist-heading] button:text-is('Invite')")
    expect_text(page, ".messages", "@ana invited.")
    assert "@ana" not in page.inner_text("table[aria-labelledby=shortlist-heading] tbody")
    assert "300.00 USD" in page.inner_text("h2:text-is('Invitations') + table")
    assert sorted(Invitation.objects.values_list("partner__handle", "offered_fee_minor", "status")) == [
        ("ana", 300_00, "invited"), ("eve", 750_00, "invited")]


# --- the admin opens on the dashboard ------------------------------------------------------------------

def test_the_dashboard_shows_the_state_of_the_money(page, screenshot):
    UserFactory(username="root", is_superuser=True)
    finance = UserFactory(username="finance", groups=["Finance approvers"])
    ensure_group_permissions()
    program = paying_program(month_budget=10_000_00, months=5, fund_total=50_000_00)
    months = [MONTH, MONTH.replace(month=9), MONTH.replace(month=10)]
    for handle, country, views in [("us.one", "US", 5_000_000), ("fr.one", "FR", 3_000_000),
                                   ("gb.one", "GB", 2_000_000)]:
        partner = member(program, handle=handle, views=views, country=country)
        for month in months[1:]:
            DailyMetricFactory(partner=partner, day=month.replace(day=15), views=views, qualified_views=views)
    for month in months:
        run = payout_run_compute(program_id=program.pk, month=month)
        if month != months[-1]:
            payout_run_approve(run_id=run.pk, actor=finance)
    queue_program = ProgramFactory(name="Educator grants")
    for _ in range(2):
        EnrolmentFactory(program=queue_program)
    EnrolmentFactory(program=program)
    ImportJob.objects.create(kind=ImportJob.Kind.METRICS, status=ImportJob.Status.FAILED,
                             source_name="metrics-2026-10.csv", message="Row 12, field views: 'abc' is not a number.")

    admin_login(page, "root")
    expect_text(page, "#panel-applications", "Educator grants", "2", program.name)
    expect_text(page, "#panel-runs", f"October 2026 · {program.name}", "10,000.00 USD", "the scheduler")
    expect_text(page, "#panel-imports", "metrics-2026-10.csv", "is not a number")
    funds = expect_text(page, "#panel-funds", "Total 50,000.00 USD", "spent 30,000.00 USD",
                        "remaining 20,000.00 USD", "runs out in December 2026")
    assert "a pooled fund spends what each month may spend" in funds  # the schedule paces it, not a straight line
    assert "nothing is left unspent" in funds
    # the burn-down: left in the fund (August-October), projected (October on), were every release spent (all five)
    assert page.locator("#panel-funds svg.chart polyline").count() == 3
    assert page.locator("#panel-funds svg.chart circle").count() == 3 + 3 + 5
    assert page.locator("#panel-funds svg.chart text:text-is('runs out')").count() == 1
    assert page.locator("#panel-funds .burn-down table tbody tr").count() == 5  # the table beside it
    assert page.locator("#panel-funds .burn-down table tbody tr.projected").count() == 2
    expect_text(page, "#panel-countries", "October 2026", "US", "FR", "GB", "5,000.00 USD")
    assert page.locator("#panel-countries svg.chart rect").count() == 3
    assert page.locator("#content-main .app-partnerships, #content-main .app-payouts").count() == 2  # apps below
    screenshot(page, "dashboard")
