"""What the demo gives a person to try payment batches by hand: a second finance approver with a printed
authenticator secret, and a bank statement for a released batch (manage.py demo_statement)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.two_factor.devices import base32_secret
from payouts.demo import DEMO_SECOND_APPROVER_TOTP_KEY, DEMO_TOTP_KEY, enrol_demo_second_factor
from payouts.models import Payment
from payouts.services.batches import batch_create, batch_release
from payouts.services.statements import statement_import
from tests.partnerships.factories import UserFactory
from tests.payouts.batches.helpers import approved_program_run, assert_ledger_balanced, payee

pytestmark = pytest.mark.django_db


def test_the_demo_enrols_both_finance_approvers_with_their_own_printed_secrets():
    finance = UserFactory(username="finance", groups=["Finance approvers"])
    second = UserFactory(username="finance2", groups=["Finance approvers"])

    printed = "\n".join(enrol_demo_second_factor())

    devices = {user: TOTPDevice.objects.get(user=user, confirmed=True) for user in (finance, second)}
    assert (devices[finance].key, devices[second].key) == (DEMO_TOTP_KEY, DEMO_SECOND_APPROVER_TOTP_KEY)
    assert DEMO_TOTP_KEY != DEMO_SECOND_APPROVER_TOTP_KEY
    for device in devices.values():
        assert base32_secret(device) in printed
    assert "DEBUG=true python manage.py totp_code finance2" in printed
    assert "demo_statement" in printed


def test_demo_statement_returns_the_first_payment_and_pays_the_rest(settings, run_approver, maker, checker):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    payee(partners["ana"])
    payee(partners["ben"])
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    settings.DEBUG = True
    with pytest.raises(CommandError, match="only a released batch is paid by the bank"):
        call_command("demo_statement", str(batch.pk))
    batch_release(batch_id=batch.pk, actor=checker, expected_count=2, expected_total_minor=batch.control_total_minor)

    out = io.StringIO()
    call_command("demo_statement", str(batch.pk), stdout=out)
    imported = statement_import(data=out.getvalue().encode(), file_name="camt.xml", actor=checker)

    assert (imported.paid_count, imported.returned_count, imported.unmatched_count) == (1, 1, 0)
    first, second = Payment.objects.filter(batch=batch).order_by("pk")
    assert (first.status, first.reason_code, second.status) == ("returned", "AC04", "paid")
    assert_ledger_balanced()


def test_demo_statement_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="runs only with DEBUG on"):
        call_command("demo_statement", "1")
