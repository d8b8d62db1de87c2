"""Reconciliation of a payment batch: payments sent vs the bank files vs statement entries vs the ledger, the checks
finance sees on the batch's reconciliation page (differences in red)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from core.sql import fetchone
from payouts.formulas.tables import ACCOUNT_TABLE, ENTRY_TABLE, TRANSACTION_TABLE
from payouts.models import LedgerAccount, LedgerEntry, Payment, PaymentBatch, StatementLine
from payouts.reconciliation import Check

P, L = Payment.Status, StatementLine.Result


def _posted(key: str, kind: str) -> int:
    return int(fetchone(f"""
        SELECT COALESCE(SUM(e.amount_minor), 0) FROM {ENTRY_TABLE} e
        JOIN {TRANSACTION_TABLE} t ON t.id = e.transaction_id JOIN {ACCOUNT_TABLE} a ON a.id = e.account_id
        WHERE t.key = %s AND a.kind = %s""", [key, kind])[0])


def _total(queryset, field: str = "amount_minor") -> int:
    return int(queryset.aggregate(total=Sum(field))["total"] or 0)


def batch_reconciliation(batch: PaymentBatch) -> list[Check]:
    currency = batch.currency
    payments = Payment.objects.filter(batch=batch)
    counts = payments.aggregate(n=Count("pk"), total=Sum("amount_minor"))
    checks = [
        Check("Payments: count", batch.payment_count, counts["n"]),
        Check("Payments: control total", batch.control_total_minor, int(counts["total"] or 0), currency),
        Check("Payments: what they cover of approved runs' lines", batch.control_total_minor,
              _total(payments, "items__amount_minor"), currency),
    ]
    if batch.status != PaymentBatch.Status.RELEASED and batch.status != PaymentBatch.Status.CLOSED:
        return checks  # a draft: nothing written or posted yet
    files = batch.files.aggregate(n=Sum("payments"), total=Sum("control_total_minor"))
    lines = StatementLine.objects.filter(payment__batch=batch)
    paid, returned = payments.filter(status=P.PAID), payments.filter(status=P.RETURNED)
    checks += [
        Check("Bank files: payments", batch.payment_count, int(files["n"] or 0)),
        Check("Bank files: control total", batch.control_total_minor, int(files["total"] or 0), currency),
        Check("Ledger: sent to the bank at release", batch.control_total_minor,
              _posted(f"batch:{batch.pk}:release", LedgerAccount.Kind.PARTNER_SENT), currency),
        Check("Statement: paid entries vs payments paid", _total(paid), _total(lines.filter(result=L.PAID)), currency),
        Check("Statement: return entries vs payments returned", _total(returned),
              _total(lines.filter(result=L.RETURNED)), currency),
        Check("Payments paid, returned, failed or still sent add up to the control total", batch.control_total_minor,
              _total(payments.filter(status__in=[P.PAID, P.RETURNED, P.FAILED, P.SENT])), currency),
        Check("Ledger: failed payments back to the partners' payable balance", _total(payments.filter(status=P.FAILED)),
              _failed_posted(batch), currency),
    ]
    return checks


def _failed_posted(batch: PaymentBatch) -> int:
    """What the failures of the batch's payments put back on the partners' payable balances."""
    failed = Payment.objects.filter(batch=batch, status=P.FAILED)
    # by hand, one transaction per payment; from a status report (which answers one batch), one per report
    reports = StatementLine.objects.filter(payment__in=failed, result=StatementLine.Result.FAILED
                                           ).values_list("statement_id", flat=True).distinct()
    keys = ([f"payment:{pk}:failed" for pk in failed.values_list("pk", flat=True)]
            + [f"statement:{pk}:failed" for pk in reports])
    return int(LedgerEntry.objects.filter(transaction__key__in=keys, account__kind=LedgerAccount.Kind.PARTNER_PAYABLE)
               .aggregate(t=Sum("amount_minor"))["t"] or 0) if keys else 0


@dataclass(frozen=True)
class PaymentRow:
    payment: Payment
    statement_paid: int
    statement_returned: int
    unmatched_entries: int  # entries naming this payment that did not match (another amount or currency)

    @property
    def differs(self) -> bool:
        """What the statements say does not agree with the payment's status (shown in red)."""
        amount, status = self.payment.amount_minor, self.payment.status
        paid_ok = (self.statement_paid == amount if status == P.PAID
                   else self.statement_paid in (0, amount) if status == P.RETURNED else self.statement_paid == 0)
        returned_ok = self.statement_returned == (amount if status == P.RETURNED else 0)
        return not (paid_ok and returned_ok) or bool(self.unmatched_entries)


def payment_rows(batch: PaymentBatch, limit: int = 500) -> list[PaymentRow]:
    """The batch's payments with what the statements said about each (the first ``limit``)."""
    payments = list(Payment.objects.filter(batch=batch).select_related("partner").order_by("pk")[:limit])
    seen = (StatementLine.objects.filter(payment__in=payments).values("payment_id")
            .annotate(paid=Sum("amount_minor", filter=Q(result=L.PAID)),
                      returned=Sum("amount_minor", filter=Q(result=L.RETURNED)),
                      unmatched=Count("pk", filter=Q(result=L.UNMATCHED))))
    found = {row["payment_id"]: row for row in seen}
    empty = {"paid": 0, "returned": 0, "unmatched": 0}
    return [PaymentRow(payment, int(found.get(payment.pk, empty)["paid"] or 0),
                       int(found.get(payment.pk, empty)["returned"] or 0),
                       int(found.get(payment.pk, empty)["unmatched"] or 0)) for payment in payments]
