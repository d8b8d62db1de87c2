"""pain.002 status reports: what the bank says of the transfers in our pain.001, applied through the statement
upload (payouts.services.statements.statement_import tells the file apart and calls ``status_report_apply``, inside
its transaction, once per report identifier).

Each transaction status is matched to a payment by its original end-to-end id, then checked against what we sent
(the original message id names the payment's batch; the amount and currency, when the bank repeats them, are the
payment's):

- RJCT of a sent payment: the payment fails with the bank's reason code through ``post_failures``, the same path
  as a failure recorded by hand (payment_mark_failed): its amount moves *sent* back to the partner's *payable*
  balance, the payee is blocked when the reason is about the account, its run and batch settle. All of a report's
  rejections go together in a few set-based statements (one ledger transaction, ``statement:<id>:failed``), so a
  bank rejecting a whole file transaction by transaction costs seconds, not a statement per payment;
- an accepted or pending status of a sent payment is recorded on the report's line: the payment stays sent until
  the statement books it;
- a status that repeats what is recorded changes nothing; anything else (an unknown id, another batch's message,
  another amount or currency, a rejection of a payment already paid or returned, a whole message or block
  rejected) is listed, unmatched, for a person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from core.money import format_money
from payouts import banking
from payouts.models import Payment, StatementImport, StatementLine
from payouts.services.statements import RETURN_REASONS, failure_reason, match_and_record, post_failures

if TYPE_CHECKING:
    from django.contrib.auth.models import User

P, L = Payment.Status, StatementLine.Result
STATEMENT_LINE_TABLE = StatementLine._meta.db_table
NO_REASON_CODE = "NARR"  # ISO 20022's "reason given in narrative": a rejection that names no code
FOR_A_PERSON = ("{what}: which payments it covers is for a person to check, then record each failure on its batch "
                "(Record a failed payment).")


def batch_message_prefix(batch_id: int) -> str:
    """The MsgId of every pain.001 a batch writes starts with this (payouts.services.batches writes the files with
    the reference "batch-<id>", numbered -001, -002, ...)."""
    return f"batch-{batch_id}-"


def match_status(entry: banking.StatementEntry, payment: Payment | None, state: dict[int, str]) -> tuple[str, str]:
    """(result, message) of one status, given the payments' statuses so far in this report (``state``)."""
    if entry.outcome == "review":
        return L.UNMATCHED, FOR_A_PERSON.format(what=entry.reference or "the bank rejected a whole message")
    if payment is None:
        return L.UNMATCHED, (f"no payment has the end-to-end id {entry.end_to_end_id!r}" if entry.end_to_end_id
                             else "the status carries no OrgnlEndToEndId")
    name = payment.end_to_end_id
    if entry.original_message_id and not entry.original_message_id.startswith(
            batch_message_prefix(payment.batch_id)):
        return L.UNMATCHED, (f"the status answers message {entry.original_message_id!r}, but payment {name} was sent "
                             f"in batch {payment.batch_id}'s files ({batch_message_prefix(payment.batch_id)}…)")
    if entry.currency and (entry.currency != payment.currency or entry.amount_minor != payment.amount_minor):
        return L.UNMATCHED, (f"{format_money(entry.amount_minor, entry.currency)} differs from payment {name}'s "
                             f"{format_money(payment.amount_minor, payment.currency)}")
    status = state[payment.pk]
    if status == P.PENDING:
        return L.UNMATCHED, f"payment {name} is pending: its batch was not released"
    if entry.outcome == "rejected":
        if status == P.SENT:
            state[payment.pk] = P.FAILED
            code = entry.reason_code or NO_REASON_CODE
            return L.FAILED, f"{code} {RETURN_REASONS.get(code, 'rejected by the bank')}"
        if status == P.FAILED:
            return L.ALREADY, "already recorded as failed"
        return L.UNMATCHED, (f"the bank rejects payment {name}, recorded as {status}: a rejection after that needs "
                             "a person to look")
    said = "pending at the bank" if entry.outcome == "pending" else "accepted by the bank"
    if status == P.SENT:
        return L.RECORDED, f"{said} ({entry.reference[:60]}); the payment stays sent until a statement books it"
    if status in (P.PAID, P.RETURNED):
        return L.ALREADY, f"{said}; already recorded as {status}"
    return L.UNMATCHED, (f"{said}, but payment {name} was recorded as failed and its amount is payable again: a "
                         "person must look")


def status_report_apply(imported: StatementImport, report: banking.Statement, actor: User) -> None:
    """Apply a pain.002 already recorded as ``imported`` (see the module docstring); runs inside the import's
    transaction, so a refusal anywhere leaves nothing written."""
    lines, _before = match_and_record(imported, report.entries, match_status)
    failed = [line for line in lines if line.result == L.FAILED]
    if failed:  # all of them in a few set-based statements, however many the bank rejected
        now = timezone.now()
        payments = Payment.objects.in_bulk([int(line.payment_id or 0) for line in failed])  # locked by the match
        for line in failed:
            payment = payments[int(line.payment_id or 0)]
            payment.status, payment.settled_at = Payment.Status.FAILED, now
            payment.reason_code = line.reason_code or NO_REASON_CODE
            payment.reason = failure_reason(payment.reason_code, f"{imported.identifier}: {line.reference}"[:150])
        Payment.objects.bulk_update(payments.values(), ["status", "reason_code", "reason", "settled_at"],
                                    batch_size=2000)
        post_failures(
            where=f"""pay.id IN (SELECT sl.payment_id FROM {STATEMENT_LINE_TABLE} sl
                                 WHERE sl.statement_id = %(statement)s AND sl.result = %(failed)s)""",
            params={"statement": imported.pk, "failed": L.FAILED}, key=f"statement:{imported.pk}:failed",
            description=f"Rejected by the bank, back to the partners' payable balance ({imported})", actor=actor,
            now=now, reference=f"bank status report {imported.identifier}")
    imported.failed_count = len(failed)
    imported.unmatched_count = sum(1 for line in lines if line.result == L.UNMATCHED)
    imported.save(update_fields=["failed_count", "unmatched_count"])
