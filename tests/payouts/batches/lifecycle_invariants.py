"""The invariants of the payment batch state machine (test_batch_lifecycle), checked after every step:

- the ledger balances, transaction by transaction and in all;
- no cent is in two live payments: a line is covered once, a pending payment's cover is still in payment, a sent
  payment's amount is exactly what its partner has on *sent*;
- per partner and program, payable + in payment + sent + paid equals what approved runs posted (earned);
- every approved or paid run reconciles; a payment's amount is what it covers;
- every payment is in one known state (settled ones dated, failed ones with the bank's reason code).
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Sum
from hypothesis.stateful import invariant

from payouts.models import (
    EarningLine,
    LedgerAccount,
    LedgerEntry,
    Payment,
    PaymentBatch,
    PaymentBatchRelease,
    PaymentItem,
    PayoutRun,
    StatementLine,
)
from payouts.reconciliation import run_reconciliation

R, P, K = PayoutRun.Status, Payment.Status, LedgerAccount.Kind


def by_partner_program(rows) -> dict[tuple[int, int], int]:
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for partner, program, amount in rows:
        totals[(partner, program)] += int(amount or 0)
    return totals


def ledger_balances(kind: str) -> dict[tuple[int, int], int]:
    return by_partner_program(LedgerEntry.objects.filter(account__kind=kind).values_list(
        "account__partner_id", "account__program_id").annotate(total=Sum("amount_minor")))


class MoneyInvariants:
    """Mixed into the state machine: hypothesis finds the invariants on its class."""

    @invariant()
    def ledger_balances(self):
        unbalanced = LedgerEntry.objects.values("transaction").annotate(total=Sum("amount_minor")).exclude(total=0)
        assert not unbalanced.exists()
        assert (LedgerEntry.objects.aggregate(total=Sum("amount_minor"))["total"] or 0) == 0

    @invariant()
    def no_cent_in_two_live_payments(self):
        for payment in Payment.objects.annotate(covered=Sum("items__amount_minor")):
            assert payment.covered == payment.amount_minor, payment
        lines = PaymentItem.objects.values_list("line_id", flat=True)
        assert len(lines) == len(set(lines))
        assert not PaymentItem.objects.exclude(line__status__in=[EarningLine.Status.PAYABLE,
                                                                 EarningLine.Status.PAID]).exists()
        in_payment, sent = ledger_balances(K.PARTNER_IN_PAYMENT), ledger_balances(K.PARTNER_SENT)
        pending = by_partner_program(PaymentItem.objects.filter(payment__status=P.PENDING).values_list(
            "partner_id", "program_id", "amount_minor"))
        in_files = by_partner_program(PaymentItem.objects.filter(payment__status=P.SENT).values_list(
            "partner_id", "program_id", "amount_minor"))
        for key in set(pending) | set(in_payment):
            assert pending.get(key, 0) <= in_payment.get(key, 0), f"a draft covers more than is in payment: {key}"
        for key in set(in_files) | set(sent):
            assert in_files.get(key, 0) == sent.get(key, 0), f"sent payments and the ledger differ: {key}"

    @invariant()
    def a_worker_release_done_is_a_released_batch(self):
        done = PaymentBatchRelease.objects.filter(state=PaymentBatchRelease.State.DONE)
        assert not done.filter(batch__status__in=[PaymentBatch.Status.DRAFT, PaymentBatch.Status.CANCELLED]).exists()

    @invariant()
    def paid_plus_owed_equals_earned(self):
        closed = {"run__kind": "final", "run__status__in": [R.APPROVED, R.PAID]}
        earned = by_partner_program(EarningLine.objects.filter(**closed).values_list(
            "partner_id", "run__program_id").annotate(t=Sum("gross_minor") + Sum("adjustments_minor")
                                                      - Sum("withholding_minor")))
        paid = by_partner_program(PaymentItem.objects.filter(payment__status=P.PAID).values_list(
            "partner_id", "program_id", "amount_minor"))
        by_hand = by_partner_program(EarningLine.objects.filter(status=EarningLine.Status.PAID,
                                                                payment_item__isnull=True).values_list(
            "partner_id", "run__program_id", "net_minor"))
        owed = [ledger_balances(kind) for kind in (K.PARTNER_PAYABLE, K.PARTNER_IN_PAYMENT, K.PARTNER_SENT)]
        keys = set(earned).union(paid, by_hand, *owed)
        for key in keys:
            total = sum(balances.get(key, 0) for balances in owed) + paid.get(key, 0) + by_hand.get(key, 0)
            assert total == earned.get(key, 0), (key, total, earned.get(key, 0))
        paid_out = int(LedgerEntry.objects.filter(account__kind=K.PAID_OUT).aggregate(t=Sum("amount_minor"))["t"]
                       or 0)
        assert paid_out == sum(paid.values()) + sum(by_hand.values())

    @invariant()
    def closed_runs_reconcile(self):
        for run in PayoutRun.objects.filter(kind="final", status__in=[R.APPROVED, R.PAID]):
            failed = [check.label for check in run_reconciliation(run) if not check.ok]
            assert failed == [], (run, failed)

    @invariant()
    def every_payment_is_in_one_known_state(self):
        """A status the model knows; a settled payment says when; a failed one carries the bank's reason code, and
        every status report line that failed a payment left it failed."""
        assert not Payment.objects.exclude(status__in=P.values).exists()
        assert not Payment.objects.filter(status__in=[P.PAID, P.RETURNED, P.FAILED], settled_at__isnull=True).exists()
        assert not Payment.objects.filter(status=P.FAILED, reason_code="").exists()
        assert not StatementLine.objects.filter(result=StatementLine.Result.FAILED).exclude(
            payment__status=P.FAILED).exists()
