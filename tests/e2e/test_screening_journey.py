"""A partnership manager reviews a run with a flagged spike in the browser and holds the line with a reason; finance
then approves the run, and the held line is not paid."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from payouts.models import EarningLine, PayoutRun, ScreeningFlag
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from tests.e2e.conftest import admin_login
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program
from tests.payouts.test_screening import history, set_day
from tests.second_factor import current_code

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_holds_a_flagged_spike_with_a_reason_then_finance_approves(page, screenshot):
    UserFactory(username="manager", groups=["Partnership managers"])
    approver = UserFactory(username="approver", groups=["Finance approvers"])
    authenticator = TOTPDevice.objects.create(user=approver, name="phone", confirmed=True)
    ensure_group_permissions()
    program = paying_program()
    spiky, steady = member(program, handle="spiky"), member(program, handle="steady")
    history(spiky)
    history(steady)
    set_day(spiky, MONTH.replace(day=15), 5_000_000)
    run = payout_run_compute(program_id=program.pk, month=MONTH)  # the scheduler

    admin_login(page, "manager")
    page.goto(f"/admin/payouts/payoutrun/{run.pk}/change/")
    assert "Screening flagged 1 line awaiting review" in page.inner_text(".screening-pending")
    table = page.inner_text("table.screening-flags")
    assert "@spiky" in table
    assert "score: 490" in table
    assert "@steady" not in table
    assert page.get_attribute("table.screening-flags svg.views-chart", "aria-label").endswith(
        "highest 5,000,000 on 2026-08-15")
    screenshot(page, "run-screening")
    page.click("table.screening-flags a:text-is('Hold…')")
    page.click("input[type=submit][value='Hold the line']")  # no reason: refused, nothing held
    assert ScreeningFlag.objects.get(run=run).status == ScreeningFlag.Status.PENDING
    page.fill("#id_reason", "Bought views: one day at 50 times the usual level")
    page.click("input[type=submit][value='Hold the line']")
    assert "hold the line done" in page.inner_text(".messagelist")
    assert "Held by manager: Bought views" in page.inner_text("table.screening-flags")

    page.context.clear_cookies()
    admin_login(page, "approver", code=current_code(authenticator))
    page.goto(f"/admin/payouts/payoutrun/{run.pk}/change/")
    page.click(".object-tools a:text-is('Approve…')")
    page.click("input[type=submit][value=Approve]")
    assert "approve done" in page.inner_text(".messagelist")
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.APPROVED
    assert dict(EarningLine.objects.filter(run=run).values_list("partner__handle", "status")) == {
        "spiky": EarningLine.Status.HELD, "steady": EarningLine.Status.PAYABLE}
