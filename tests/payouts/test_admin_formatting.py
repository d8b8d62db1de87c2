"""The admin pages people work in all day, rendered over factory data and read as text: every amount carries its
currency, every number past 9,999 its separators, every timestamp its zone; lists are titled by what they hold,
the partner page leads with its summary and read-only pages offer no Save."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from partnerships.models import Enrolment
from payouts.models import EarningLine, LedgerTransaction
from payouts.selectors import partner_payout_summary
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve
from tests.partnerships.factories import EnrolmentFactory, PartnerStatisticsFactory
from tests.payouts.factories import MONTH, member, paying_program

pytestmark = pytest.mark.django_db

# An amount as the house writes it ("1,234.56", "−5.00", "10,000"), then whatever follows it.
AMOUNT = re.compile(r"(?<![\w.,])[−-]?\d{1,3}(?:,\d{3})*\.\d{2,3}(?![\d,%])(?P<after>.{0,4})", re.S)
CURRENCY_AFTER = re.compile(r"[\s\u00a0][A-Z]{3}")
BARE_NUMBER = re.compile(r"(?<![\w.,:#/-])\d{5,}(?![\w,])")
TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}|\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2})(?P<after>.{0,6})",
                       re.S)
ZONE_AFTER = re.compile(r"[\s\u00a0]([A-Z]{2,5}|[+-]\d{2,4})")


def text_of(page: str, element_id: str) -> str:
    """The visible text of the element with ``element_id`` (tags and attributes dropped, entities read)."""
    start = page.index(f'id="{element_id}"')
    start = page.rindex("<", 0, start)
    tag = re.match(r"<(\w+)", page[start:]).group(1)
    depth, position = 0, start
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", page[start:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            position = start + match.end()
            break
    return html.unescape(re.sub(r"<[^>]+>", " ", page[start:position]))


def assert_readable(text: str) -> None:
    amounts = list(AMOUNT.finditer(text))
    unmarked = [m.group(0) for m in amounts if not CURRENCY_AFTER.match(m.group("after"))]
    assert not unmarked, f"amounts without their currency: {unmarked}"
    assert not BARE_NUMBER.findall(text), f"numbers without separators: {BARE_NUMBER.findall(text)}"
    bare_times = [m.group(0) for m in TIMESTAMP.finditer(text) if not ZONE_AFTER.match(m.group("after"))]
    assert not bare_times, f"timestamps without a zone: {bare_times}"


@pytest.fixture
def paid_world(approver, second_approver):
    """A program with two members whose statistics run into millions, and an approved run of their month."""
    program = paying_program(month_budget=2_500_000_00)
    ana = member(program, handle="ana", views=14_518_531)
    member(program, handle="ben", views=13_240)
    PartnerStatisticsFactory(partner=ana, followers=14_518_531, views_30d=13_240_000, posts_30d=31,
                             avg_views_per_post=427_096, engagement_rate=Decimal("2.75"))
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=approver)
    payout_run_approve(run_id=run.pk, actor=second_approver)
    run.refresh_from_db()
    return {"program": program, "ana": ana, "run": run}


def test_a_run_and_a_line_are_named_in_words_not_ids(paid_world):
    run, ana = paid_world["run"], paid_world["ana"]
    line = EarningLine.objects.get(run=run, partner=ana)
    enrolment = Enrolment.objects.get(partner=ana)

    assert str(run) == f"August 2026 · {run.program.name}"
    assert str(line) == f"@ana · August 2026 · {run.program.name}"
    assert str(enrolment) == f"@ana → {run.program.name}"


def test_the_partner_page_opens_with_its_summary_above_the_form(client, superuser, paid_world):
    ana, run = paid_world["ana"], paid_world["run"]
    client.force_login(superuser)

    page = client.get(reverse("admin:partnerships_partner_change", args=[ana.pk])).content.decode()

    summary = " ".join(text_of(page, "partner-summary").split())
    assert page.index('id="partner-summary"') < page.index('name="handle"')
    assert "Followers 14.5M" in summary
    assert "Views 13,240,000" in summary
    assert "Engagement rate 2.75%" in summary
    assert f"{run.program.name} · approved" in summary
    assert "Screening flags: 0" in summary
    if MONTH.year == timezone.now().year:
        payouts = partner_payout_summary(ana, year=MONTH.year)
        assert payouts.earned["USD"] > 999_999  # over 9,999.99 USD: the separators are put to the test
        assert f"Payouts in {MONTH.year}" in summary
    assert_readable(summary)
    assert_readable(text_of(page, "content"))


def test_the_run_list_and_page_show_money_with_its_currency_and_counts_with_separators(client, superuser,
                                                                                      paid_world):
    run = paid_world["run"]
    client.force_login(superuser)

    listing = client.get(reverse("admin:payouts_payoutrun_changelist")).content.decode()
    page = client.get(reverse("admin:payouts_payoutrun_change", args=[run.pk])).content.decode()

    assert "<h1>Payout runs</h1>" in listing
    assert '<span class="money">2,500,000.00 USD</span>' in listing
    assert_readable(text_of(listing, "result_list"))
    assert_readable(text_of(page, "content"))
    assert 'name="_save"' not in page  # a run is read-only: no Save bar
    assert page.index("Total gross") < page.index("Reconciliation")


def test_the_earning_lines_keep_withheld_balance_and_hold_reason_visible(client, superuser, paid_world):
    client.force_login(superuser)

    listing = client.get(reverse("admin:payouts_earningline_changelist")).content.decode()

    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', listing)
    assert headers == ["partner", "run", "status", "gross", "withholding", "net", "hold", "statement", "forfeit"]
    assert "<h1>Earning lines</h1>" in listing
    assert f"August 2026 · {paid_world['program'].name}" in listing
    assert_readable(text_of(listing, "result_list"))


def test_the_queue_is_titled_applications_and_says_how_many_rules_fail(client, manager):
    EnrolmentFactory(eligibility_passed=False, eligibility=[
        {"label": "Followers", "value": 10, "threshold": 10_000, "passed": False},
        {"label": "Posts", "value": 0, "threshold": 4, "passed": False},
        {"label": "Age", "value": 30, "threshold": 18, "passed": True},
    ])
    client.force_login(manager)

    listing = client.get(reverse("admin:partnerships_enrolment_changelist")).content.decode()

    assert "<h1>Applications</h1>" in listing
    assert "Select enrolment to change" not in listing
    assert ">fails 2 rules</span>" in listing
    assert_readable(text_of(listing, "result_list"))


def test_an_application_page_is_decided_by_its_buttons_and_has_no_save_bar(client, manager):
    enrolment = EnrolmentFactory()
    client.force_login(manager)

    page = client.get(reverse("admin:partnerships_enrolment_change", args=[enrolment.pk])).content.decode()

    assert 'name="_save"' not in page
    assert 'name="_continue"' not in page
    assert_readable(text_of(page, "content"))


def test_the_partner_list_shows_reach_compact_and_views_with_separators(client, superuser, paid_world):
    client.force_login(superuser)

    listing = client.get(reverse("admin:partnerships_partner_changelist")).content.decode()

    cells = text_of(listing, "result_list")
    assert "14.5M" in cells
    assert "13,240,000" in cells
    assert_readable(cells)


def test_the_statement_shows_each_amount_with_its_currency(client, superuser, paid_world):
    client.force_login(superuser)
    url = reverse("admin:payouts_statement", args=[paid_world["ana"].pk, f"{MONTH:%Y-%m}"])

    page = client.get(url).content.decode()

    assert_readable(text_of(page, "content"))


def test_the_checks_fail_on_text_made_to_fail_them():
    # The checks above could pass by finding nothing: they find what they must on a page made to fail them.
    with pytest.raises(AssertionError, match="without their currency"):
        assert_readable("total 1,234,567.89 and more")
    with pytest.raises(AssertionError, match="without separators"):
        assert_readable("followers 14518531")
    with pytest.raises(AssertionError, match="without a zone"):
        assert_readable("computed 2026-11-04 14:03 by finance")
    assert_readable("total 1,234,567.89\u00a0USD, 14,518,531 followers, computed 2026-11-04 14:03 UTC")


def test_a_ledger_transaction_is_read_only_and_names_its_accounts_by_owner(client, superuser, paid_world):
    transaction = LedgerTransaction.objects.filter(run=paid_world["run"]).order_by("pk").first()
    client.force_login(superuser)

    page = client.get(reverse("admin:payouts_ledgertransaction_change", args=[transaction.pk])).content.decode()

    assert 'name="_save"' not in page
    assert "@ana · " in page  # the partner's account, not "partner 1 / program 1"
    assert "partner 1 / program" not in page
    assert_readable(text_of(page, "content"))
