"""A finance approver with no authenticator app tries to approve a run, is refused with a way forward, sets up an
app on the two-factor page by reading the secret it shows (the test computes the code an app would), comes back
to the run and approves it."""

from __future__ import annotations

from base64 import b32decode

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from payouts.models import PayoutRun
from payouts.roles import ensure_group_permissions
from payouts.services.runs import payout_run_compute
from tests.e2e.conftest import admin_login
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import MONTH, member, paying_program

pytestmark = pytest.mark.django_db(transaction=True)


def code_from_secret(secret: str) -> str:
    """What an authenticator app shows for the secret typed into it (base32, spaces ignored)."""
    return f"{totp(b32decode(secret.replace(' ', ''))):06d}"


def test_finance_enrols_on_the_two_factor_page_then_approves_a_run(page, screenshot):
    starter = UserFactory(username="starter", groups=["Finance approvers"])
    finance = UserFactory(username="finance", groups=["Finance approvers"])
    ensure_group_permissions()
    program = paying_program()
    member(program, handle="ana", views=3)
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=starter)
    assert run.status == PayoutRun.Status.COMPUTED

    admin_login(page, "finance")  # no app yet: signed in, not verified
    page.goto(f"/admin/payouts/payoutrun/{run.pk}/change/")
    page.click(".object-tools a:text-is('Approve…')")
    assert "Approving a run needs a verified code" in page.inner_text(".messagelist")
    page.click("input[type=submit][value=Approve]")

    refusal = page.inner_text(".messagelist .error")
    assert "Approving a run needs a second factor" in refusal
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPUTED  # refused: nothing changed

    page.click(".messagelist .error a:text-is('Set up your authenticator app')")
    page.click("button:text-is('Set up an authenticator app')")
    assert page.locator(".two-factor-qr svg").count() == 1
    screenshot(page, "two-factor-enrol")
    secret = page.inner_text("#two-factor-secret")
    page.fill("#id_code", code_from_secret(secret))
    page.click("button:text-is('Confirm')")

    # Back on the confirmation page it came from, the session now verified.
    assert "authenticator app is set up" in page.inner_text(".messagelist")
    assert page.url.endswith(f"/admin/payouts/payoutrun/{run.pk}/act/approve/")
    assert page.inner_text("#two-factor-link").lower() == "two-factor (verified)"  # the header shows it uppercased
    page.click("input[type=submit][value=Approve]")
    assert "approve done" in page.inner_text(".messagelist")
    run.refresh_from_db()
    assert (run.status, run.approved_by) == (PayoutRun.Status.APPROVED, finance)
    assert TOTPDevice.objects.get(user=finance).confirmed
