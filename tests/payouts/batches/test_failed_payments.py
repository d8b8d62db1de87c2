"""A sent payment the bank rejected and never executed: it fails with the bank's reason code, its amount moves back
from *sent* to the partner's *payable* balance, an account reason blocks the payee, and the run and batch settle as
after a statement. Only a sent payment fails, once; the page needs the permission and a second factor."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payouts.batch_reconciliation import batch_reconciliation
from payouts.exceptions import StatementRefused
from payouts.models import Payee, Payment, PaymentBatch, PayoutRun
from payouts.reconciliation import run_reconciliation
from payouts.services.batches import batch_create
from payouts.services.statements import payment_mark_failed, statement_import
from tests.partnerships.factories import UserFactory
from tests.payouts.batches.helpers import K, assert_ledger_balanced, balance, paid_entry, statement
from tests.payouts.batches.test_statements import released  # noqa: F401 - the fixture
from tests.second_factor import verified_client

pytestmark = pytest.mark.django_db


def test_a_failed_payment_goes_back_to_payable_and_an_account_reason_blocks_the_payee(released, checker):  # noqa: F811
    partners, run, batch, payments = released
    ana = payments["ana"]
    assert (balance(partners["ana"], K.PARTNER_SENT), balance(partners["ana"], K.PARTNER_PAYABLE)) == (7_500_00, 0)

    failed = payment_mark_failed(payment_id=ana.pk, reason_code=" ac01 ", reason="status report of 3 Sept",
                                 actor=checker)

    assert (failed.status, failed.reason_code) == (Payment.Status.FAILED, "AC01")
    assert failed.reason == "AC01 incorrect account number: status report of 3 Sept"
    assert (balance(partners["ana"], K.PARTNER_SENT), balance(partners["ana"], K.PARTNER_PAYABLE)) == (0, 7_500_00)
    assert_ledger_balanced()
    assert "payment failed: AC01 incorrect account number" in Payee.objects.get(partner=partners["ana"]).blocked_reason
    assert Payee.objects.get(partner=partners["ben"]).blocked_reason == ""
    # Once only, and only a sent payment
    with pytest.raises(StatementRefused, match="is failed: only a payment sent to the bank"):
        payment_mark_failed(payment_id=ana.pk, reason_code="AC01", reason="again", actor=checker)
    assert balance(partners["ana"], K.PARTNER_PAYABLE) == 7_500_00


def test_a_file_reason_does_not_block_the_payee_and_the_batch_and_run_settle(released, checker):  # noqa: F811
    partners, run, batch, payments = released
    payment_mark_failed(payment_id=payments["ben"].pk, reason_code="FF01", reason="file rejected", actor=checker)
    assert Payee.objects.get(partner=partners["ben"]).blocked_reason == ""
    assert PaymentBatch.objects.get(pk=batch.pk).status == PaymentBatch.Status.RELEASED  # ana is still sent
    statement_import(data=statement("STMT-F1", paid_entry(payments["ana"])), file_name="s.xml", actor=checker)
    batch.refresh_from_db()
    run.refresh_from_db()
    assert batch.status == PaymentBatch.Status.CLOSED
    assert run.status == PayoutRun.Status.PAID
    assert [c.label for c in run_reconciliation(run) if not c.ok] == []
    assert [c.label for c in batch_reconciliation(batch) if not c.ok] == []
    assert_ledger_balanced()


def test_a_debit_after_a_failure_is_left_for_a_person(released, checker):  # noqa: F811
    _partners, _run, _batch, payments = released
    ben = payments["ben"]
    payment_mark_failed(payment_id=ben.pk, reason_code="FF01", reason="file rejected", actor=checker)
    imported = statement_import(data=statement("STMT-F2", paid_entry(ben)), file_name="s.xml", actor=checker)
    [line] = imported.lines.all()
    assert line.result == "unmatched"
    assert "was recorded as failed" in line.message
    assert Payment.objects.get(pk=ben.pk).status == Payment.Status.FAILED


@pytest.mark.parametrize(("code", "reason", "message"), [
    ("A", "x", "is not one: 2 to 8 letters or digits"), ("AC-01", "x", "is not one"),
    ("AC01", "  ", "A reason is required"),
])
def test_a_failure_needs_a_code_and_a_reason(released, checker, code, reason, message):  # noqa: F811
    _partners, _run, _batch, payments = released
    with pytest.raises(StatementRefused, match=message):
        payment_mark_failed(payment_id=payments["ana"].pk, reason_code=code, reason=reason, actor=checker)
    assert Payment.objects.get(pk=payments["ana"].pk).status == Payment.Status.SENT


def test_a_pending_payment_cannot_fail(run_approver, maker, checker):
    from tests.payouts.batches.helpers import approved_program_run, payee

    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 1}, partners=partners)
    payee(partners["ana"])
    draft = batch_create(currency="USD", rail="ach", actor=maker)
    with pytest.raises(StatementRefused, match="is pending"):
        payment_mark_failed(payment_id=draft.payments.get().pk, reason_code="AC01", reason="x", actor=checker)


def test_the_page_records_a_failure_with_a_second_factor(client, released, checker):  # noqa: F811
    _partners, _run, batch, payments = released
    url = reverse("admin:payouts_paymentbatch_failed", args=[batch.pk])
    client.force_login(checker)
    assert client.get(url).status_code == 403  # no second factor
    verified_client(client, checker)
    page = client.get(url)
    assert page.status_code == 200
    assert payments["ana"].end_to_end_id in page.content.decode()
    response = client.post(url, {"end_to_end_id": payments["ana"].end_to_end_id, "reason_code": "AC04",
                                 "reason": "bank portal"})
    assert response.status_code == 302
    assert Payment.objects.get(pk=payments["ana"].pk).status == Payment.Status.FAILED
    manager = UserFactory(username="pm", groups=["Partnership managers"])
    verified_client(client, manager)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize(("field", "value"), [
    *((field, value) for field in ("end_to_end_id", "reason_code")
      for value in ("1E+999999", "AC\x0001", "٢٠٠", "x" * 10_000, "", "CP999-1")),
    *(("reason", value) for value in ("AC\x0001", "x" * 10_000, "", "   ")),
])
def test_hostile_values_on_the_failed_payment_page_are_refused_and_change_nothing(client, released, checker,  # noqa: F811
                                                                                 field, value):
    """A value no payment, code or note can be: the page names the field (a NUL byte is a 400 before the view),
    nothing is posted and the payment stays sent."""
    from payouts.models import LedgerEntry

    _partners, _run, batch, payments = released
    verified_client(client, checker)
    data = {"end_to_end_id": payments["ana"].end_to_end_id, "reason_code": "AC01", "reason": "portal", field: value}
    entries = LedgerEntry.objects.count()
    response = client.post(reverse("admin:payouts_paymentbatch_failed", args=[batch.pk]), data)
    if "\x00" in value:  # refused before any view: a 400
        assert response.status_code == 400
    else:
        assert response.status_code == 200
        assert response.context["form"].errors
    assert LedgerEntry.objects.count() == entries
    assert set(Payment.objects.filter(batch=batch).values_list("status", flat=True)) == {Payment.Status.SENT}
