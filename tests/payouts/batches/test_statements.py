"""Bank statements: matching by end-to-end id, amount and currency; paid, returned (money back on payable, payee
blocked) and unmatched entries; a statement imported twice changes nothing; runs become paid."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from payouts.exceptions import StatementAlreadyImported, StatementRefused
from payouts.models import LedgerEntry, Payee, Payment, PaymentBatch, PayoutRun, StatementImport
from payouts.reconciliation import run_reconciliation
from payouts.selectors import run_ledger_summary
from payouts.services.batches import batch_create, batch_release
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve
from payouts.services.statements import statement_import
from tests.payouts.batches.helpers import (
    K,
    approved_program_run,
    assert_ledger_balanced,
    august_with_bens_payment_returned,
    balance,
    paid_entry,
    payee,
    returned_entry,
    statement,
)

pytestmark = pytest.mark.django_db
SEPTEMBER = dt.date(2026, 9, 1)


@pytest.fixture
def released(run_approver, maker, checker):
    """An approved USD run (ana 7,500.00, ben 2,500.00), both with ACH payees, in a released batch."""
    partners: dict = {}
    run = approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    for partner in partners.values():
        payee(partner)
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    batch_release(batch_id=batch.pk, actor=checker, expected_count=2, expected_total_minor=batch.control_total_minor)
    payments = {p.partner.handle: p for p in Payment.objects.filter(batch=batch).select_related("partner")}
    return partners, run, batch, payments


def test_a_paid_a_returned_and_an_unknown_entry(released, checker):
    partners, run, batch, payments = released
    ana, ben = payments["ana"], payments["ben"]
    data = statement("STMT-1", paid_entry(ana), returned_entry(ben, "AC04"), ("CP999-1", 12_00, "USD", "paid"))

    imported = statement_import(data=data, file_name="camt.xml", actor=checker)

    assert (imported.paid_count, imported.returned_count, imported.unmatched_count) == (1, 1, 1)
    results = list(imported.lines.values_list("position", "result", "message"))
    assert results == [(1, "paid", ""), (2, "returned", "AC04 account closed"),
                       (3, "unmatched", "no payment has the end-to-end id 'CP999-1'")]
    ana.refresh_from_db()
    ben.refresh_from_db()
    assert ana.status == "paid"
    assert (ben.status, ben.reason_code) == ("returned", "AC04")
    # ana's money is paid out; ben's is back on his payable balance, and his payee is blocked
    assert balance(partners["ana"], K.PARTNER_SENT) == 0
    assert balance(partners["ben"], K.PARTNER_SENT) == 0
    assert balance(partners["ben"], K.PARTNER_PAYABLE) == ben.amount_minor
    assert balance(partners["ana"], K.PARTNER_PAYABLE) == 0
    blocked = Payee.objects.get(partner=partners["ben"]).blocked_reason
    assert blocked == f"payment returned: AC04 account closed ({ben.end_to_end_id})"
    assert Payee.objects.get(partner=partners["ben"]).history.first().history_change_reason == f"Blocked: {blocked}"
    assert Payee.objects.get(partner=partners["ana"]).blocked_reason == ""
    assert_ledger_balanced()
    # every payment is settled: the run is paid, its batch closed, and the run still reconciles
    run.refresh_from_db()
    assert (run.status, run.paid_by) == ("paid", checker)
    assert run.payment_reference == f"bank statement {imported.identifier}"
    assert run.lines.get(partner=partners["ana"]).status == "paid"
    assert run.lines.get(partner=partners["ben"]).status == "payable"  # its money came back
    assert PaymentBatch.objects.get(pk=batch.pk).status == "closed"
    assert [c.label for c in run_reconciliation(run) if not c.ok] == []
    summary = run_ledger_summary(run)
    assert summary.paid == summary.paid_in_ledger == ana.amount_minor


def test_the_same_statement_twice_changes_nothing(released, checker, maker):
    _partners, _run, _batch, payments = released
    data = statement("STMT-2", paid_entry(payments["ana"]))
    first = statement_import(data=data, file_name="camt.xml", actor=checker)
    entries, statuses = LedgerEntry.objects.count(), dict(Payment.objects.values_list("pk", "status"))

    with pytest.raises(StatementAlreadyImported,
                       match=f"Statement {re.escape(first.identifier)} was already imported by batch-checker"):
        statement_import(data=data, file_name="again.xml", actor=maker)

    assert LedgerEntry.objects.count() == entries
    assert dict(Payment.objects.values_list("pk", "status")) == statuses
    assert StatementImport.objects.get() == first


def test_an_entry_already_recorded_in_another_statement_changes_nothing(released, checker):
    _partners, _run, _batch, payments = released
    statement_import(data=statement("N-1", paid_entry(payments["ana"])), file_name="camt054.xml", actor=checker)
    entries = LedgerEntry.objects.count()
    again = statement_import(data=statement("S-1", paid_entry(payments["ana"])), file_name="camt053.xml",
                             actor=checker)
    assert list(again.lines.values_list("result", flat=True)) == ["already"]
    assert LedgerEntry.objects.count() == entries


def test_a_return_after_the_bank_booked_it_paid_takes_it_back_from_paid_out(released, checker):
    partners, run, _batch, payments = released
    ana = payments["ana"]
    statement_import(data=statement("S-1", paid_entry(ana), paid_entry(payments["ben"])), file_name="a.xml",
                     actor=checker)
    assert PayoutRun.objects.get(pk=run.pk).status == "paid"
    statement_import(data=statement("S-2", returned_entry(ana, "AC01")), file_name="b.xml", actor=checker)
    ana.refresh_from_db()
    assert (ana.status, ana.reason) == ("returned", "AC01 incorrect account number")
    assert balance(partners["ana"], K.PARTNER_PAYABLE) == ana.amount_minor
    assert_ledger_balanced()


def test_wrong_amount_or_currency_or_unreleased_is_unmatched(released, checker, maker, run_approver):
    _partners, _run, _batch, payments = released
    ana = payments["ana"]
    data = statement("S-3", (ana, ana.amount_minor - 1, "USD", "paid"), (ana, ana.amount_minor, "EUR", "paid"),
                     (None, 5_00, "USD", "paid"))
    imported = statement_import(data=data, file_name="x.xml", actor=checker)
    assert list(imported.lines.values_list("result", "message")) == [
        ("unmatched", f"7,499.99 USD differs from payment {ana.end_to_end_id}'s 7,500.00 USD"),
        ("unmatched", f"7,500.00 EUR differs from payment {ana.end_to_end_id}'s 7,500.00 USD"),
        ("unmatched", "the entry carries no end-to-end id"),
    ]
    assert Payment.objects.get(pk=ana.pk).status == "sent"


@pytest.mark.parametrize("data", [b"", b"<not xml", b"<?xml version='1.0'?><Document/>",
                                  b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'])
def test_a_malformed_statement_is_refused_and_changes_nothing(released, checker, data):
    with pytest.raises(StatementRefused, match="bad.xml: "):
        statement_import(data=data, file_name="bad.xml", actor=checker)
    assert not StatementImport.objects.exists()


def test_a_statement_past_the_size_bound_is_refused(released, checker, settings):
    settings.BANK_STATEMENT_MAX_BYTES = 100
    with pytest.raises(StatementRefused, match="at most 100 bytes are accepted"):
        statement_import(data=b"x" * 101, file_name="big.xml", actor=checker)


def test_importing_needs_the_permission(released, outsider):
    with pytest.raises(Exception, match="may not import bank statements"):
        statement_import(data=statement("S-9"), file_name="x.xml", actor=outsider)


def test_a_returned_partner_is_left_out_of_the_next_batch_until_the_details_are_fixed(released, checker, maker,
                                                                                        run_approver):
    partners, _run, _batch, payments = released
    statement_import(data=statement("S-4", paid_entry(payments["ana"]), returned_entry(payments["ben"])),
                     file_name="s.xml", actor=checker)
    approved_program_run(run_approver, views={"ana": 1, "ben": 1}, partners=partners)  # another program's month
    held = batch_create(currency="USD", rail="ach", actor=maker)
    assert list(held.payments.values_list("partner__handle", flat=True)) == ["ana"]
    (left_out,) = held.exclusions.all()
    assert left_out.partner == partners["ben"]
    assert left_out.reason.startswith("payee blocked: payment returned: AC04 account closed")

    Payee.objects.filter(partner=partners["ben"]).update(blocked_reason="")  # the details fixed (payee service)
    fixed = batch_create(currency="USD", rail="ach", actor=maker)
    # the new program's line; the returned 2,500.00 waits on payable for its own program's next run to carry in
    assert list(fixed.payments.values_list("partner__handle", "amount_minor")) == [("ben", 2_500_00)]
    assert balance(partners["ben"], K.PARTNER_PAYABLE) == payments["ben"].amount_minor


def test_a_returned_amount_is_carried_by_the_next_month_and_paid_by_a_new_batch(run_approver, maker, checker):
    """Returned → payable → the program's next run carries it in → a new batch pays it, once."""
    program, ana, ben, august, returned = august_with_bens_payment_returned(run_approver, maker, checker)
    assert PayoutRun.objects.get(pk=august.pk).status == "paid"
    Payee.objects.filter(partner=ben).update(blocked_reason="")  # fixed

    september = payout_run_compute(program_id=program.pk, month=SEPTEMBER)
    assert september.lines.get(partner=ben).carried_in_minor == returned.amount_minor
    payout_run_approve(run_id=september.pk, actor=run_approver)
    again = batch_create(currency="USD", rail="ach", actor=maker)
    assert again.payments.get(partner=ben).amount_minor == returned.amount_minor
    assert balance(ben, K.PARTNER_PAYABLE) == 0
    assert_ledger_balanced()
