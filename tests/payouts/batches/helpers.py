"""Helpers of the payment batch tests: payees, approved runs, statements built through the bank files contract, and
the ledger's balance checks."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone

from partnerships.models import DailyMetric, Enrolment
from payouts.banking import StatementEntry
from payouts.banking.camt_build import build_camt053
from payouts.banking.pain002_build import TransactionStatus, build_pain002
from payouts.models import LedgerAccount, LedgerEntry, Payee, Payment, PayoutRun
from payouts.services.batches import batch_create, batch_release
from payouts.services.runs import payout_run_compute
from payouts.services.settlement import payout_run_approve
from payouts.services.statements import statement_import
from tests.payouts.factories import BEFORE, MONTH, member, paying_program

IBANS = ["DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300", "BE68539007547034"]


def payee(partner, *, rail="ach", currency="USD", **fields) -> Payee:
    if rail == "sepa":
        details = {"iban": IBANS[partner.pk % len(IBANS)], "bic": "COBADEFFXXX"}
        last4 = details["iban"][-4:]
    else:
        details = {"routing_number": "021000021", "account_number": f"00012345{partner.pk:04d}"}
        last4 = details["account_number"][-4:]
    return Payee.objects.create(partner=partner, rail=rail, currency=currency,
                                account_holder=f"{partner.display_name} Holder", last4=last4, **{**details, **fields})


def hold(payee_: Payee, days: int = 5) -> None:
    """A change of bank details not yet confirmed: payments wait."""
    now = timezone.now()
    Payee.objects.filter(pk=payee_.pk).update(changed_at=now, hold_until=now + dt.timedelta(days=days))


def approved_program_run(approver, *, currency="USD", views: dict, month=MONTH, partners=None) -> PayoutRun:
    """A pooled program in ``currency`` with a month budget of 10,000.00 split by ``views`` {handle: views}; its
    month computed by the scheduler and approved. ``partners`` {handle: partner} reuses existing partners."""
    program = paying_program(currency=currency)
    partners = partners if partners is not None else {}
    for handle, count in views.items():
        if handle in partners:
            Enrolment.objects.create(partner=partners[handle], program=program, status=Enrolment.Status.APPROVED,
                                     submitted_at=BEFORE, approved_at=BEFORE, eligibility=[], eligibility_passed=True)
        else:
            partners[handle] = member(program, handle=handle, views=count)
    run = payout_run_compute(program_id=program.pk, month=month)
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    return payout_run_approve(run_id=run.pk, actor=approver)


def statement(identifier: str, *entries: tuple) -> bytes:
    """A camt.053 statement; each entry (payment or end-to-end id, amount_minor, currency, outcome[, reason])."""
    built = []
    for position, (target, amount, currency, outcome, *reason) in enumerate(entries, start=1):
        e2e = target.end_to_end_id if isinstance(target, Payment) else target
        built.append(StatementEntry(end_to_end_id=e2e, amount_minor=amount, currency=currency, outcome=outcome,
                                    reason_code=reason[0] if reason else "", reference=f"REF-{identifier}-{position}",
                                    booking_date=dt.date(2026, 11, 2), position=position))
    return build_camt053(identifier=identifier, entries=built)


def status_report(identifier: str, batch_id: int, *transactions: tuple, **options) -> bytes:
    """A pain.002 answering batch ``batch_id``'s first file; each transaction (payment or end-to-end id, status
    [, reason code[, amount_minor, currency]]). ``options`` go to build_pain002 (group_status, ...)."""
    built = []
    for target, status, *rest in transactions:
        e2e = target.end_to_end_id if isinstance(target, Payment) else target
        reason = rest[0] if rest else ""
        amount, currency = (rest[1], rest[2]) if len(rest) > 2 else (None, "USD")
        built.append(TransactionStatus(end_to_end_id=e2e, status=status, reason_code=reason, amount_minor=amount,
                                       currency=currency))
    return build_pain002(identifier, f"batch-{batch_id}-001", built, **options)


def paid_entry(payment: Payment) -> tuple:
    return (payment, payment.amount_minor, payment.currency, "paid")


def returned_entry(payment: Payment, reason: str = "AC04") -> tuple:
    return (payment, payment.amount_minor, payment.currency, "returned", reason)


def assert_ledger_balanced() -> None:
    """Every transaction sums to zero, and so does the whole ledger."""
    unbalanced = list(LedgerEntry.objects.values("transaction").annotate(total=Sum("amount_minor")).exclude(total=0))
    assert unbalanced == []
    assert (LedgerEntry.objects.aggregate(total=Sum("amount_minor"))["total"] or 0) == 0


def balance(partner, kind: str, currency: str | None = None) -> int:
    """The partner's balance on accounts of ``kind`` over all programs."""
    entries = LedgerEntry.objects.filter(account__partner=partner, account__kind=kind)
    if currency:
        entries = entries.filter(account__currency=currency)
    return int(entries.aggregate(total=Sum("amount_minor"))["total"] or 0)


K = LedgerAccount.Kind


def august_with_bens_payment_returned(run_approver, maker, checker) -> tuple:
    """A program of two months: ana (with a day of views in September) and ben, both paid by ACH; August approved and
    released in one batch, then a statement books ana's payment paid and returns ben's. Returns the program, ana,
    ben, August's run and ben's returned payment."""
    program = paying_program(months=2)
    ana, ben = member(program, handle="ana", views=3), member(program, handle="ben", views=1)
    DailyMetric.objects.create(partner=ana, day=dt.date(2026, 9, 5), views=1, qualified_views=1)
    payee(ana)
    payee(ben)
    august = payout_run_approve(run_id=payout_run_compute(program_id=program.pk, month=MONTH).pk, actor=run_approver)
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    batch_release(batch_id=batch.pk, actor=checker, expected_count=2, expected_total_minor=batch.control_total_minor)
    returned = Payment.objects.get(batch=batch, partner=ben)
    statement_import(data=statement("R-1", paid_entry(Payment.objects.get(batch=batch, partner=ana)),
                                    returned_entry(returned)), file_name="r.xml", actor=checker)
    return program, ana, ben, august, returned
