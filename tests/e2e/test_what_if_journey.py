"""Finance tries a lower cap on a computed run in the browser: the what-if shows the totals and who gains and loses,
the per-partner comparison downloads as CSV, and the live run, its lines, the terms and the ledger are unchanged."""

from __future__ import annotations

import csv
import io

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from payouts.models import EarningLine, LedgerEntry, PayoutRun, ProgramTerms
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from tests.e2e.conftest import admin_login
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program
from tests.second_factor import current_code

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_lowers_the_cap_in_a_what_if_and_downloads_the_comparison(page, screenshot):
    approver = UserFactory(username="approver", groups=["Finance approvers"])
    authenticator = TOTPDevice.objects.create(user=approver, name="phone", confirmed=True)
    ensure_group_permissions()
    program = paying_program()  # 10,000.00 USD for August, no cap
    member(program, handle="ana", views=3_000)
    member(program, handle="ben", views=1_000)
    run = payout_run_compute(program_id=program.pk, month=MONTH)  # the scheduler
    lines_before = list(EarningLine.objects.filter(run=run).order_by("partner_id").values())
    run_before = PayoutRun.objects.filter(pk=run.pk).values().get()
    terms_before = ProgramTerms.objects.filter(program=program).values().get()
    entries_before = LedgerEntry.objects.count()

    admin_login(page, "approver", code=current_code(authenticator))
    page.goto(f"/admin/payouts/payoutrun/{run.pk}/change/")
    page.click("a.what-if")
    page.fill("#id_partner_cap_minor", "5,000.00")
    page.select_option("#id_excess_policy", "redistribute")
    page.click("input[type=submit][value='Compute the what-if']")

    # 3:1 of 10,000.00: ana 7,500.00 and ben 2,500.00; capped at 5,000.00, ana's excess goes to ben
    counts = " ".join(page.inner_text(".what-if-counts").split())
    assert "Partners: 1 gains, 1 loses, 0 unchanged." in counts
    totals = page.inner_text("table.what-if-totals")
    assert "10,000.00 USD" in totals
    largest = page.inner_text("table.what-if-largest")
    assert "@ana" in largest
    assert "−2,500.00 USD" in largest
    assert "+2,500.00 USD" in largest
    screenshot(page, "what-if-lower-cap")

    with page.expect_download() as download_info:
        page.click("a.what-if-csv")
    download = download_info.value
    assert download.suggested_filename == f"what-if-{program.slug}-2026-08.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    assert [(row["handle"], row["old_net_minor"], row["new_net_minor"], row["difference_minor"]) for row in rows] == [
        ("ana", "750000", "500000", "-250000"), ("ben", "250000", "500000", "250000")]

    # nothing live changed: the run, its lines, the program's terms and the ledger
    assert PayoutRun.objects.filter(pk=run.pk).values().get() == run_before
    assert list(EarningLine.objects.filter(run=run).order_by("partner_id").values()) == lines_before
    assert ProgramTerms.objects.filter(program=program).values().get() == terms_before
    assert LedgerEntry.objects.count() == entries_before
