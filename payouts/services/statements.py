"""Bank statements: read the bank's camt.053 or camt.054 (payouts.banking.parse_statement), match each entry to a
payment by end-to-end id, amount and currency, and settle what matched.

- a booked debit of a sent payment: the payment is paid, its amount moves *sent* → the program's *paid out*;
- a return credit: the payment is returned with the bank's reason code, its amount moves *sent* (or *paid out*,
  when the bank had booked it paid first) back to the partner's *payable* balance, and the partner's payee is
  blocked ("payment returned: AC04 …") until the details are fixed, so no new batch pays that account again;
- anything else (an unknown id, another amount or currency, a payment not released) is listed, unmatched, for a
  person; an entry that repeats what is already recorded changes nothing.

A statement is applied once: its identifier is unique (two imports of the same statement at once: the second waits
for the first and is refused), each settlement is a status change of payments locked FOR UPDATE, and the ledger
keys name the import. A run whose every payable line is covered by settled payments (paid or returned) becomes paid.

The same upload takes the bank's pain.002 status reports (told apart by the document's namespace): their
rejections fail payments through ``post_failures`` (payouts.services.status_reports), once per report too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.money import format_money
from core.permissions import require_reason
from core.sql import execute, fetchall
from payouts import banking, ledger
from payouts.exceptions import (
    STATEMENT_ALREADY_IMPORTED,
    STATEMENT_TOO_LARGE,
    StatementAlreadyImported,
    StatementRefused,
)
from payouts.formulas.tables import ACCOUNT_TABLE, LINE_TABLE, PAID, PAYABLE, PAYMENT_TABLE, quoted
from payouts.models import (
    Fund,
    LedgerAccount,
    Payee,
    Payment,
    PaymentBatch,
    PayoutRun,
    StatementImport,
    StatementLine,
)
from payouts.services.batches import ITEM_TABLE, PAYEE_TABLE, ensure_item_accounts, item_moves_sql
from payouts.services.guards import require_permission
from payouts.services.payees import payee_block

if TYPE_CHECKING:
    from django.contrib.auth.models import User

IMPORT_PERMISSION = "payouts.import_statement"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
P, L = Payment.Status, StatementLine.Result

# The ISO 20022 return reasons a person meets most, said in words on the payment and the payee's block.
RETURN_REASONS = {
    "AC01": "incorrect account number", "AC04": "account closed", "AC06": "account blocked",
    "AG01": "transaction forbidden on this account", "AM05": "duplicate payment", "BE04": "creditor address missing",
    "MD07": "account holder deceased", "MS02": "refused by the payee", "MS03": "reason not given by the bank",
    "RC01": "bank identifier (BIC) incorrect", "RR01": "debtor account or identification missing",
    "R02": "account closed (ACH)", "R03": "no account / unable to locate account (ACH)",
    "R04": "invalid account number (ACH)",
}


def return_reason(code: str) -> str:
    code = (code or "").strip().upper()
    return f"{code} {RETURN_REASONS.get(code, 'returned by the bank')}" if code else "no reason code given"


def _already(statement: StatementImport) -> StatementAlreadyImported:
    return StatementAlreadyImported(STATEMENT_ALREADY_IMPORTED.format(
        identifier=statement.identifier, user=statement.imported_by, when=statement.imported_at), statement.pk)


def _match(entry: banking.StatementEntry, payment: Payment | None, state: dict[int, str]) -> tuple[str, str]:
    """(result, message) of one entry, given the payments' statuses so far in this statement (``state``)."""
    amount = format_money(entry.amount_minor, entry.currency) if entry.currency else str(entry.amount_minor)
    if payment is None:
        return L.UNMATCHED, (f"no payment has the end-to-end id {entry.end_to_end_id!r}" if entry.end_to_end_id
                             else "the entry carries no end-to-end id")
    if entry.currency != payment.currency or entry.amount_minor != payment.amount_minor:
        return L.UNMATCHED, (f"{amount} differs from payment {payment.end_to_end_id}'s "
                             f"{format_money(payment.amount_minor, payment.currency)}")
    status = state[payment.pk]
    if entry.outcome == "paid":
        if status == P.SENT:
            state[payment.pk] = P.PAID
            return L.PAID, ""
        if status == P.PAID:
            return L.ALREADY, "already recorded as paid"
        if status == P.RETURNED:
            return L.ALREADY, "the payment was already returned; a debit after the return needs a person to look"
        if status == P.FAILED:
            return L.UNMATCHED, (f"payment {payment.end_to_end_id} was recorded as failed and its amount is payable "
                                 "again: a debit after that needs a person to look")
        return L.UNMATCHED, f"payment {payment.end_to_end_id} is {status}: its batch was not released"
    if entry.outcome == "returned":
        if status in (P.SENT, P.PAID):
            state[payment.pk] = P.RETURNED
            return L.RETURNED, return_reason(entry.reason_code)
        if status == P.RETURNED:
            return L.ALREADY, "already recorded as returned"
        if status == P.FAILED:
            return L.ALREADY, "already recorded as failed; nothing more to move"
        return L.UNMATCHED, f"payment {payment.end_to_end_id} is {status}: its batch was not released"
    return L.UNMATCHED, f"unknown outcome {entry.outcome!r}"


def statement_import(*, data: bytes, file_name: str, actor: User) -> StatementImport:
    """Import a bank statement once and settle what it says (see the module docstring). Refused with a sentence on
    a file too large or malformed (nothing changes); a statement already imported is refused with
    ``StatementAlreadyImported`` (which names the first import) and changes nothing."""
    require_permission(actor, IMPORT_PERMISSION, "import bank statements")
    limit = int(getattr(settings, "BANK_STATEMENT_MAX_BYTES", DEFAULT_MAX_BYTES))
    if len(data) > limit:
        raise StatementRefused(STATEMENT_TOO_LARGE.format(size=len(data), limit=limit))
    try:
        statement = banking.parse_statement(data)
    except banking.StatementError as exc:
        raise StatementRefused(f"{file_name}: {exc}") from None
    identifier = statement.identifier.strip()[:200]  # as stored: a longer one is compared by its first 200 characters
    if not identifier:
        raise StatementRefused(f"{file_name}: the statement carries no identifier, so importing it twice could not "
                               "be told apart; ask the bank for the statement with its Id.")
    existing = StatementImport.objects.filter(identifier=identifier).select_related("imported_by").first()
    if existing is not None:
        raise _already(existing)
    with transaction.atomic():
        try:
            with transaction.atomic():
                imported = StatementImport.objects.create(
                    identifier=identifier, kind=statement.kind[:10], file_name=file_name[:255],
                    sha256=hashlib.sha256(data).hexdigest(), imported_by=actor, entry_count=len(statement.entries))
        except IntegrityError:  # the same statement imported at the same moment: the other import applied it
            existing = StatementImport.objects.select_related("imported_by").get(identifier=identifier)
            raise _already(existing) from None
        if statement.kind == "pain.002":
            from payouts.services.status_reports import status_report_apply

            status_report_apply(imported, statement, actor)
        else:
            _apply(imported, statement, actor)
    return imported


def match_and_record(imported: StatementImport, entries: list[banking.StatementEntry],
                     match: Callable[[banking.StatementEntry, Payment | None, dict[int, str]], tuple[str, str]],
                     ) -> tuple[list[StatementLine], dict[int, str]]:
    """Lock the payments the entries name, match each entry in file order with ``match`` (which sees and updates
    the payments' statuses so far) and write the lines; returns them and the statuses as they were before."""
    payments = _lock_payments(entries)
    state = {locked.pk: locked.status for locked in payments.values()}
    before = dict(state)
    lines = []
    for entry in sorted(entries, key=lambda e: e.position):
        payment = payments.get(entry.end_to_end_id or "")
        result, message = match(entry, payment, state)
        lines.append(StatementLine(
            statement=imported, position=entry.position, end_to_end_id=(entry.end_to_end_id or "")[:35],
            amount_minor=entry.amount_minor, currency=(entry.currency or "")[:3], outcome=entry.outcome[:10],
            reason_code=(entry.reason_code or "")[:8], reference=(entry.reference or "")[:100],
            booking_date=entry.booking_date, payment=payment,
            result=result, message=message[:300]))
    StatementLine.objects.bulk_create(lines, batch_size=2000)
    return lines, before


def _lock_payments(entries: list[banking.StatementEntry]) -> dict[str, Payment]:
    """The payments the entries name by end-to-end id, locked FOR UPDATE in id order (no deadlock between two
    imports), by end-to-end id."""
    ids = sorted({entry.end_to_end_id for entry in entries if entry.end_to_end_id})
    payments: dict[str, Payment] = {}
    for start in range(0, len(ids), 5000):
        for locked in Payment.objects.select_for_update().filter(end_to_end_id__in=ids[start:start + 5000]
                                                                 ).order_by("pk"):
            payments[locked.end_to_end_id] = locked
    return payments


def _apply(imported: StatementImport, statement: banking.Statement, actor: User) -> None:
    lines, before = match_and_record(imported, statement.entries, _match)
    was_paid = {pk for pk, status in before.items() if status == P.PAID}
    now = timezone.now()
    paid = [int(line.payment_id) for line in lines if line.result == L.PAID and line.payment_id is not None]
    returned = [line for line in lines if line.result == L.RETURNED]
    for start in range(0, len(paid), 5000):
        Payment.objects.filter(pk__in=paid[start:start + 5000]).update(
            status=P.PAID, paid_statement=imported, settled_at=now)
    for line in returned:
        Payment.objects.filter(pk=int(line.payment_id or 0)).update(
            status=P.RETURNED, returned_statement=imported, settled_at=now, reason_code=line.reason_code,
            reason=line.message[:200])
    _post(imported, actor, returned_after_paid={int(line.payment_id or 0) for line in returned}
                                                & (was_paid | set(paid)))
    _block_payees(returned, actor)
    _settle_runs_and_batches(imported, actor, now)
    imported.paid_count, imported.returned_count = len(paid), len(returned)
    imported.unmatched_count = sum(1 for line in lines if line.result == L.UNMATCHED)
    imported.save(update_fields=["paid_count", "returned_count", "unmatched_count"])


def _paid_out_accounts(where: str, params: dict[str, object]) -> None:
    """The programs' paid-out fund accounts, for the items ``where`` selects."""
    programs = {row[0] for row in fetchall(f"""SELECT DISTINCT i.program_id FROM {ITEM_TABLE} i
        JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id WHERE {where}""", params)}
    for fund in Fund.objects.filter(program_id__in=programs):
        ledger.fund_account(fund, LedgerAccount.Kind.PAID_OUT)


def _program_moves_sql(where: str, partner_kind: str, *, to_paid_out: bool) -> str:
    """Entries between a partner account of kind %(partner_kind)s and the program's paid-out account: the items'
    amounts leave the partner account (``to_paid_out``) or arrive on it from paid out."""
    sign = 1 if to_paid_out else -1
    return f"""
        SELECT a.id AS account_id, SUM({-sign} * i.amount_minor) AS amount_minor
        FROM {ITEM_TABLE} i JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id
        JOIN {ACCOUNT_TABLE} a ON a.kind = %({partner_kind})s AND a.currency = pay.currency
             AND a.partner_id = i.partner_id AND a.program_id = i.program_id
        WHERE {where} GROUP BY a.id
        UNION ALL
        SELECT o.id, SUM({sign} * i.amount_minor)
        FROM {ITEM_TABLE} i JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id
        JOIN {ACCOUNT_TABLE} o ON o.kind = %(paid_out)s AND o.currency = pay.currency AND o.partner_id IS NULL
             AND o.program_id = i.program_id
        WHERE {where} GROUP BY o.id"""


def _post(imported: StatementImport, actor: User, *, returned_after_paid: set[int]) -> None:
    kinds = {"payable": LedgerAccount.Kind.PARTNER_PAYABLE, "sent": LedgerAccount.Kind.PARTNER_SENT,
             "paid_out": LedgerAccount.Kind.PAID_OUT, "statement": imported.pk}
    paid = "pay.paid_statement_id = %(statement)s"
    _paid_out_accounts(paid, kinds)
    ledger.post(key=f"statement:{imported.pk}:paid", actor=actor, params=kinds,
                description=f"Paid by the bank ({imported})"[:200],
                entries_sql=_program_moves_sql(paid, "sent", to_paid_out=True))
    returned = "pay.returned_statement_id = %(statement)s"
    ensure_item_accounts(where=returned, params=kinds, kind=LedgerAccount.Kind.PARTNER_PAYABLE)
    after_paid = ",".join(str(int(pk)) for pk in sorted(returned_after_paid)) or "0"
    from_sent = f"{returned} AND pay.id NOT IN ({after_paid})"
    from_paid = f"{returned} AND pay.id IN ({after_paid})"
    _paid_out_accounts(from_paid, kinds)
    ledger.post(key=f"statement:{imported.pk}:returned", actor=actor, params=kinds,
                description=f"Returned by the bank, back to the partners' payable balance ({imported})"[:200],
                entries_sql=f"""{item_moves_sql(from_sent, "sent", "payable")}
                    UNION ALL {_program_moves_sql(from_paid, "payable", to_paid_out=False)}""")


def _block_payees(returned: list[StatementLine], actor: User) -> None:
    """Hold each partner whose payment came back until their bank details are fixed (payouts.services.payees)."""
    for line in returned:
        partner_id = Payment.objects.filter(pk=int(line.payment_id or 0)).values_list("partner_id", flat=True).first()
        if partner_id is not None and Payee.objects.filter(partner_id=partner_id).exists():
            payee_block(partner_id=partner_id, actor=actor,
                        reason=f"payment returned: {line.message} ({line.end_to_end_id})")


SETTLED = quoted(P.PAID, P.RETURNED, P.FAILED)

# Failure reasons about the payee's account: the details must be fixed before anyone pays it again (the payee is
# blocked, as after a return). Others (a rejected file, a cut-off missed) say nothing against the account.
ACCOUNT_REASON_CODES = {"AC01", "AC03", "AC04", "AC06", "AC13", "AG01", "BE04", "MD07", "RC01", "R02", "R03", "R04"}
FAIL_PERMISSION = IMPORT_PERMISSION


@transaction.atomic
def payment_mark_failed(*, payment_id: int, reason_code: str, reason: str, actor: User) -> Payment:
    """The bank rejected a sent payment and never executed it (its status report, its portal, a call): the payment
    fails with the bank's reason code and the person's note, its amount moves *sent* back to the partner's *payable*
    balance (the next run carries it, as after a return), the payee is blocked when the reason is about the account,
    and its run and batch settle like after a statement. Only a sent payment can fail, once."""
    require_permission(actor, FAIL_PERMISSION, "record failed payments")
    code = (reason_code or "").strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{2,8}", code):
        raise StatementRefused(f"The bank's reason code {reason_code!r} is not one: 2 to 8 letters or digits, "
                               "e.g. AC01 (incorrect account number) or FF01 (invalid file format).")
    note = require_reason(reason, "record a failed payment", error=StatementRefused)[:150]
    payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
    if payment is None:
        raise StatementRefused(f"No payment {payment_id}.")
    if payment.status != P.SENT:
        raise StatementRefused(f"Payment {payment.end_to_end_id} is {payment.get_status_display().lower()}: only a "
                               "payment sent to the bank and not yet settled can fail.")
    now = timezone.now()
    payment.status, payment.reason_code, payment.settled_at = P.FAILED, code, now
    payment.reason = failure_reason(code, note)
    payment.save(update_fields=["status", "reason_code", "reason", "settled_at"])
    words = RETURN_REASONS.get(code, "rejected by the bank")
    post_failures(where="pay.id = %(payment)s", params={"payment": payment.pk}, key=f"payment:{payment.pk}:failed",
                  description=f"Failed at the bank ({code} {words}), back to the partner's payable balance: "
                              f"{payment.end_to_end_id}", actor=actor, now=now,
                  reference=f"payment failures recorded by {actor}")
    return payment


def failure_reason(code: str, note: str) -> str:
    """A failed payment's reason: the bank's code, its words, and who or what said so."""
    return f"{code} {RETURN_REASONS.get(code, 'rejected by the bank')}: {note}"[:200]


def post_failures(*, where: str, params: dict[str, object], key: str, description: str, actor: User,
                  now: datetime, reference: str) -> None:
    """The payments ``pay`` that ``where`` selects were just marked failed (status, code, reason, settled_at): in
    set-based statements, whatever their number, their amounts move *sent* back to the partners' *payable* balances
    in one balanced transaction (``key``: once), the payees whose failure is about the account are blocked until
    their details are fixed, and their runs and batches settle like after a statement."""
    kinds = {"payable": LedgerAccount.Kind.PARTNER_PAYABLE, "sent": LedgerAccount.Kind.PARTNER_SENT, **params}
    ensure_item_accounts(where=where, params=kinds, kind=LedgerAccount.Kind.PARTNER_PAYABLE)
    ledger.post(key=key, actor=actor, params=kinds, description=description[:200],
                entries_sql=item_moves_sql(where, "sent", "payable"))
    blocked = fetchall(f"""SELECT pay.partner_id, MIN(pay.reason_code), MIN(pay.end_to_end_id)
        FROM {PAYMENT_TABLE} pay WHERE ({where}) AND pay.reason_code IN ({quoted(*sorted(ACCOUNT_REASON_CODES))})
          AND EXISTS (SELECT 1 FROM {PAYEE_TABLE} pe WHERE pe.partner_id = pay.partner_id)
        GROUP BY pay.partner_id ORDER BY pay.partner_id""", kinds)
    for partner_id, code, end_to_end_id in blocked:
        payee_block(partner_id=partner_id, actor=actor, reason=f"payment failed: {code} "
                    f"{RETURN_REASONS.get(code, 'rejected by the bank')} ({end_to_end_id})")
    settle_runs_and_batches(where=where, params=kinds, actor=actor, now=now, reference=reference)


def _settle_runs_and_batches(imported: StatementImport, actor: User, now: datetime) -> None:
    settle_runs_and_batches(
        where="pay.paid_statement_id = %(statement)s OR pay.returned_statement_id = %(statement)s",
        params={"statement": imported.pk}, actor=actor, now=now, reference=f"bank statement {imported.identifier}")


def settle_runs_and_batches(*, where: str, params: dict[str, object], actor: User, now: datetime,
                            reference: str) -> None:
    """For the payments ``pay`` that ``where`` selects (just settled): runs whose every payable line is covered by a
    settled payment (paid, returned or failed) become paid (their paid lines marked paid); released batches whose
    every payment is settled are closed."""
    runs = [row[0] for row in fetchall(f"""SELECT DISTINCT i.run_id FROM {ITEM_TABLE} i
        JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id WHERE {where}""", params)]
    for run in PayoutRun.objects.select_for_update().filter(pk__in=runs, status=PayoutRun.Status.APPROVED
                                                            ).order_by("pk"):
        unsettled = fetchall(f"""SELECT COUNT(*) FROM {LINE_TABLE} l
            LEFT JOIN {ITEM_TABLE} i ON i.line_id = l.id LEFT JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id
            WHERE l.run_id = %(run)s AND l.status = {PAYABLE} AND (pay.id IS NULL OR pay.status NOT IN ({SETTLED}))""",
                             {"run": run.pk})[0][0]
        if unsettled:
            continue
        execute(f"""UPDATE {LINE_TABLE} SET status = {PAID} WHERE run_id = %(run)s AND status = {PAYABLE}
            AND id IN (SELECT i.line_id FROM {ITEM_TABLE} i JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id
                       WHERE i.run_id = %(run)s AND pay.status = %(paid)s)""", {"run": run.pk, "paid": P.PAID})
        run.status, run.paid_by, run.paid_at = PayoutRun.Status.PAID, actor, now
        run.payment_reference = reference[:120]
        run.save(update_fields=["status", "paid_by", "paid_at", "payment_reference"])
    batches = [row[0] for row in fetchall(f"SELECT DISTINCT pay.batch_id FROM {PAYMENT_TABLE} pay WHERE {where}",
                                          params)]
    for batch in PaymentBatch.objects.select_for_update().filter(pk__in=batches,
                                                                 status=PaymentBatch.Status.RELEASED):
        if not batch.payments.exclude(status__in=[P.PAID, P.RETURNED, P.FAILED]).exists():
            batch.status, batch.closed_at = PaymentBatch.Status.CLOSED, now
            batch.save(update_fields=["status", "closed_at"])

