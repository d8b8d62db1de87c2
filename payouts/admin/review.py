"""What the run page shows to review a run: its reconciliation, its ledger, the change from the last month."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from django.utils.html import format_html, format_html_join

from core.money import format_money
from payouts import selectors
from payouts.models import (
    PayoutRun,
)
from payouts.reconciliation import Check

# What the run page and its confirmations say (tests assert these texts).
RUN_STALE_BANNER = "This run is stale: {reason}. Compute it again before it can be approved."
CANNOT_APPROVE = "Cannot approve this run: {makers}."
YOU_CANNOT_APPROVE = "You are one of them, so Approve is not offered to you: another finance approver must approve it."
NO_MAKERS = "Started by the scheduler and nobody's input in it: any finance approver may approve it."
NOT_RECONCILED_YET = "Only computed, approved and paid monthly runs are reconciled."
CHECKS_HOLD = "✔ All {count} checks hold."
CHECKS_FAIL = "✘ {failed} of {count} checks fail: approving and marking paid are refused until they hold."
NOT_POSTED = "not posted"
FIRST_RUN = "first run: no earlier month of {program} was approved or paid"
CHANGE_FROM_PREVIOUS = "{change} ({percent}) from {month:%B %Y} ({previous})"
CHANGE_FROM_NOTHING = "{change} from {month:%B %Y}, which paid nothing"
RED = "color:#c62828"


def signed_money(amount_minor: int, currency: str) -> str:
    """A change of money: "+1,000.00 USD", "−250.00 USD", "0.00 USD"."""
    return ("+" if amount_minor > 0 else "") + format_money(amount_minor, currency)


def signed_percent(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``, one decimal, half-even: "+11.1%", "−50.0%", "0.0%"."""
    percent = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    return ("+" if percent > 0 else "−" if percent < 0 else "") + f"{abs(percent)}%"


def change_from_previous(run: PayoutRun, payable_minor: int) -> str:
    previous = selectors.previous_paying_run(run)
    if previous is None:
        return FIRST_RUN.format(program=run.program)
    change = signed_money(payable_minor - previous.total_payable_minor, run.currency)
    if not previous.total_payable_minor:
        return CHANGE_FROM_NOTHING.format(change=change, month=previous.month)
    return CHANGE_FROM_PREVIOUS.format(change=change, month=previous.month,
                                       percent=signed_percent(payable_minor - previous.total_payable_minor,
                                                              previous.total_payable_minor),
                                       previous=format_money(previous.total_payable_minor, run.currency))


def reconciliation_table(checks: list[Check]):
    """Each check with what was expected and found, ✔ or, in red, ✘ with the difference."""
    if not checks:
        return NOT_RECONCILED_YET
    failed = [check for check in checks if not check.ok]
    rows = format_html_join("", '<tr class="{}"{}><td>{}</td><td class="money">{}</td><td class="money">{}</td>'
                                "<td>{}</td></tr>", (
        ("check-ok", "", check.label, check.expected_text, check.actual_text, "✔") if check.ok else
        ("check-failed", format_html(' style="{}"', RED), check.label, check.expected_text, check.actual_text,
         f"✘ difference {check.difference_text}")
        for check in checks))
    summary = (format_html('<p style="{}"><strong>{}</strong></p>', RED,
                           CHECKS_FAIL.format(failed=len(failed), count=len(checks)))
               if failed else format_html("<p>{}</p>", CHECKS_HOLD.format(count=len(checks))))
    return format_html('{}<table class="reconciliation"><thead><tr><th>Check</th><th>Expected</th><th>Actual</th>'
                       "<th></th></tr></thead><tbody>{}</tbody></table>", summary, rows)


def ledger_summary_table(run: PayoutRun, summary: selectors.RunLedgerSummary):
    """What the run's lines move beside what its ledger transactions moved; a figure that differs is red."""
    money = lambda amount: format_money(amount, run.currency)  # noqa: E731
    rows = [
        ("Owed before (carried in)", summary.owed_before, None, "—"),
        ("Posted by this run (gross + adjustments − withholding)", summary.posted, summary.posted_in_ledger,
         f"run:{run.pk}:approve"),
        ("In payment", summary.in_payment, summary.in_payment_in_ledger, f"run:{run.pk}:in-payment"),
        ("Paid", summary.paid, summary.paid_in_ledger, f"run:{run.pk}:pay"),
    ]
    body = format_html_join("", '<tr{}><td>{}</td><td class="money">{}</td><td class="money">{}</td><td>{}</td></tr>', (
        (format_html(' style="{}"', RED) if ledger is not None and ledger != lines else "", label, money(lines),
         "—" if key == "—" else (money(ledger) if ledger is not None else NOT_POSTED), key)
        for label, lines, ledger, key in rows))
    return format_html('<table class="ledger-summary"><thead><tr><th></th><th>Run\'s lines</th><th>Ledger</th>'
                       "<th>Transaction</th></tr></thead><tbody>{}</tbody></table>", body)
