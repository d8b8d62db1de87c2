"""Reconciliation of a run with the fund, the ledger and its payment file: the checks finance sees on the run's
page, and the gate of approving and paying (a run that does not reconcile is refused).

A computed run must add up, stay within what its fund may spend that month, carry in only balances that the
ledger holds and no other computed run carries, and still agree with the partners' holds. An approved or paid run
must show in the ledger exactly what its lines say: posted to the partners at approval, put into payment, the
payment file's count and control total, and (once paid) paid out.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.money import format_money
from core.sql import fetchone
from payouts.formulas.settle import CARRIED_BY_OTHER_RUNS, hold_reason_sql
from payouts.formulas.tables import (
    ACCOUNT_TABLE,
    ENTRY_TABLE,
    LINE_TABLE,
    PAID,
    PARTNER_TABLE,
    PAYABLE,
    PAYMENT_ITEM_TABLE,
    PAYMENT_TABLE,
    TRANSACTION_TABLE,
)
from payouts.formulas.tax import TAX_JOINS, TAX_SOURCE, tax_params
from payouts.funds import FundPosition
from payouts.ledger import PARTNER_BALANCES
from payouts.models import Fund, LedgerAccount, Payment, PayoutRun, ProgramTerms


@dataclass(frozen=True)
class Check:
    label: str
    expected: int
    actual: int
    currency: str | None = None  # None: a count
    at_most: bool = False  # the actual may be below the expected

    @property
    def ok(self) -> bool:
        return self.actual <= self.expected if self.at_most else self.actual == self.expected

    @property
    def difference(self) -> int:
        return self.actual - self.expected

    def _text(self, value: int) -> str:
        return format_money(value, self.currency) if self.currency else f"{value:,}"

    @property
    def expected_text(self) -> str:
        return ("at most " if self.at_most else "") + self._text(self.expected)

    @property
    def actual_text(self) -> str:
        return self._text(self.actual)

    @property
    def difference_text(self) -> str:
        return self._text(self.difference) if self.difference else ""


def _posted(run: PayoutRun, event: str, kinds: tuple[str, ...]) -> int:
    """What the run's ``event`` transaction posted on accounts of ``kinds`` (partner or fund accounts)."""
    placeholders = ", ".join(f"%(kind{i})s" for i in range(len(kinds)))
    return int(fetchone(f"""
        SELECT COALESCE(SUM(e.amount_minor), 0) FROM {ENTRY_TABLE} e
        JOIN {TRANSACTION_TABLE} t ON t.id = e.transaction_id
        JOIN {ACCOUNT_TABLE} a ON a.id = e.account_id
        WHERE t.key = %(key)s AND a.kind IN ({placeholders})""",
        {"key": f"run:{run.pk}:{event}", **{f"kind{i}": kind for i, kind in enumerate(kinds)}})[0])


def _line_totals(run: PayoutRun) -> tuple[int, int, int, int, int, int]:
    """Gross, balance, posted to partners, then the count, total and sum of partner ids of the lines approving put
    into payment: payable or paid (a run marked paid has only paid ones; a run paid through payment batches keeps a
    line whose payment came back payable, its money back on the partner's payable balance)."""
    return tuple(int(v or 0) for v in fetchone(f"""
        SELECT SUM(gross_minor), SUM(net_minor), SUM(gross_minor + adjustments_minor - withholding_minor),
               SUM(CASE WHEN status IN ({PAYABLE}, {PAID}) THEN 1 ELSE 0 END),
               SUM(CASE WHEN status IN ({PAYABLE}, {PAID}) THEN net_minor ELSE 0 END),
               SUM(CASE WHEN status IN ({PAYABLE}, {PAID}) THEN partner_id ELSE 0 END)
        FROM {LINE_TABLE} WHERE run_id = %(run)s""", {"run": run.pk}))  # type: ignore[return-value]


@dataclass(frozen=True)
class PaymentFile:
    """What the run's payment file holds: one row per paid line; the hash total (sum of partner ids, last ten
    digits) is the bank-style checksum of who is paid."""

    count: int
    control_total: int
    hash_total: int


def payment_file_summary(run: PayoutRun) -> PaymentFile:
    *_, count, control, hash_total = _line_totals(run)
    return PaymentFile(count=count, control_total=control, hash_total=hash_total % 10**10)


def _claims_beyond_ledger(run: PayoutRun) -> int:
    """Lines carrying in more than the partner's payable balance less what other computed runs carry in, or
    recovering a debt larger than the one the ledger still holds (written off, or recovered by another run)."""
    return int(fetchone(f"""
        SELECT COUNT(*) FROM {LINE_TABLE} l
        LEFT JOIN ({PARTNER_BALANCES.format(kind="payable")}) b ON b.partner_id = l.partner_id
        LEFT JOIN ({CARRIED_BY_OTHER_RUNS}) c ON c.partner_id = l.partner_id
        WHERE l.run_id = %(run)s AND (
              (l.carried_in_minor > 0 AND l.carried_in_minor > COALESCE(b.amount, 0) - COALESCE(c.amount, 0))
           OR (l.carried_in_minor < 0 AND l.carried_in_minor < COALESCE(b.amount, 0) - COALESCE(c.amount, 0)))""",
        {"run": run.pk, "program": run.program_id, "currency": run.currency,
         "payable": LedgerAccount.Kind.PARTNER_PAYABLE})[0])


def _holds_now(run: PayoutRun) -> int:
    terms = ProgramTerms.objects.filter(program_id=run.program_id).first()
    if terms is None:
        return 0
    return int(fetchone(f"""
        SELECT COUNT(*) FROM {LINE_TABLE} l JOIN {PARTNER_TABLE} p ON p.id = l.partner_id {TAX_JOINS.format(line="l")}
        WHERE l.run_id = %(run)s AND l.status = {PAYABLE} AND {hold_reason_sql(terms, source=TAX_SOURCE)} <> ''""",
        {"run": run.pk, **tax_params(terms, run)})[0])


def _in_payment_short(run: PayoutRun) -> int:
    """Payable lines of an approved run whose partner's in-payment balance no longer covers them."""
    return int(fetchone(f"""
        SELECT COUNT(*) FROM {LINE_TABLE} l
        LEFT JOIN ({PARTNER_BALANCES.format(kind="in_payment")}) b ON b.partner_id = l.partner_id
        WHERE l.run_id = %(run)s AND l.status = {PAYABLE} AND l.net_minor > COALESCE(b.amount, 0)
          AND NOT EXISTS (SELECT 1 FROM {PAYMENT_ITEM_TABLE} i JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id
                          WHERE i.line_id = l.id AND pay.status <> %(pending)s)""",
        {"run": run.pk, "program": run.program_id, "currency": run.currency,
         "in_payment": LedgerAccount.Kind.PARTNER_IN_PAYMENT, "pending": Payment.Status.PENDING})[0])


def _in_batches(run: PayoutRun) -> tuple[int, int, int]:
    """What payment batches cover of the run: in all, then what the bank paid and what came back to the partners'
    payable balance (returned, or failed)."""
    return tuple(int(v or 0) for v in fetchone(f"""
        SELECT SUM(i.amount_minor), SUM(CASE WHEN pay.status = %(paid)s THEN i.amount_minor ELSE 0 END),
               SUM(CASE WHEN pay.status IN (%(returned)s, %(failed)s) THEN i.amount_minor ELSE 0 END)
        FROM {PAYMENT_ITEM_TABLE} i JOIN {PAYMENT_TABLE} pay ON pay.id = i.payment_id WHERE i.run_id = %(run)s""",
        {"run": run.pk, "paid": Payment.Status.PAID, "returned": Payment.Status.RETURNED,
         "failed": Payment.Status.FAILED}))  # type: ignore


def run_reconciliation(run: PayoutRun) -> list[Check]:
    """The checks that apply to the run's status; every one must hold for the run to be approved or paid."""
    S, currency = PayoutRun.Status, run.currency
    if not run.spends:
        return []
    gross, net, posted_to_partners, _count, control, _hash = _line_totals(run)
    checks = [
        Check("Lines add up to the run's gross", run.total_gross_minor, gross, currency),
        Check("Lines add up to the run's balance", run.total_net_minor, net, currency),
    ]
    if run.status == S.COMPUTED:
        fund = Fund.objects.select_related("program").get(program_id=run.program_id)
        available = FundPosition(fund, excluding_run=run.pk).available(run.month)
        checks += [
            Check("Spend within what the fund may spend this month", available, run.spend_minor, currency,
                  at_most=True),
            Check("Lines carrying in a balance the ledger no longer holds (or another run carries)", 0,
                  _claims_beyond_ledger(run)),
            Check("Payable lines whose partner is now held", 0, _holds_now(run)),
        ]
        return checks
    in_payment = _posted(run, "in-payment", (LedgerAccount.Kind.PARTNER_IN_PAYMENT,))
    checks += [
        Check("Posted to partners at approval", posted_to_partners,
              _posted(run, "approve", (LedgerAccount.Kind.PARTNER_PAYABLE,)), currency),
        Check("Taken from the fund at approval", run.spend_minor,
              -_posted(run, "approve", (LedgerAccount.Kind.FUND_BUDGET,)), currency),
        Check("Put into payment at approval", control, in_payment, currency),
        Check("Payment file: control total", in_payment, control, currency),
    ]
    covered, paid, returned = _in_batches(run)
    if run.status == S.APPROVED:
        checks.append(Check("Payable lines no longer covered by the partner's in-payment balance", 0,
                            _in_payment_short(run)))
        if covered:
            checks.append(Check("In payment batches", control, covered, currency, at_most=True))
    elif covered:  # paid through payment batches, settled by the bank's statements
        checks += [Check("In payment batches", control, covered, currency),
                   Check("Paid by the bank, or returned or failed back to the partners' payable balance", in_payment,
                         paid + returned, currency)]
    else:
        checks.append(Check("Paid out", in_payment, _posted(run, "pay", (LedgerAccount.Kind.PAID_OUT,)), currency))
    return checks
