"""How a line was reached, in words, rebuilt from the facts the formulas stored on it."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from core.money import format_money, format_percent
from partnerships.models import Program
from payouts.formulas.tax import PPM
from payouts.models import EarningLine, IncomeType, PayoutRun, WithholdingSource


def _percent(part: int, whole: int) -> str:
    return f"{float(Fraction(part, whole) * 100):.4f}%" if whole else "0%"


def withholding_reason(line: EarningLine) -> str:
    """'withheld 15% (treaty: DE, royalties)': the rate a line was withheld at and where it came from."""
    rate = format_percent(Decimal(line.withholding_ppm) / PPM)
    source = WithholdingSource(line.withholding_source)
    income = IncomeType(line.income_type).label.lower() if line.income_type else ""
    if source == WithholdingSource.TREATY:
        detail = f"treaty: {line.tax_country}, {income}"
    elif source == WithholdingSource.NO_TREATY:
        detail = f"no treaty for {line.tax_country}, {income}: statutory rate"
    else:
        detail = source.label
    return f"withheld {rate} ({detail})"


def explain(line: EarningLine, run: PayoutRun, archetype: str, excess_policy: str = "") -> list[str]:
    money = lambda amount: format_money(amount, run.currency)  # noqa: E731
    steps: list[str] = []
    if line.basis == EarningLine.Basis.VIEWS and archetype == Program.Archetype.POOLED_FUND:
        steps.append(f"Share of the pool: {line.basis_value:,} of {line.basis_total:,} qualified views "
                     f"({_percent(line.basis_value, line.basis_total)}) of a {money(run.budget_minor)} budget.")
        if line.capped:
            where = {"redistribute": "was shared among the other partners",
                     "retain": "went back to the fund"}.get(excess_policy, "was handled as the program says")
            steps.append(f"Capped at {money(line.gross_minor)}; the excess over the cap {where}.")
    elif line.basis == EarningLine.Basis.VIEWS:
        steps.append(f"{line.basis_value:,} qualified views on eligible videos at the program's rate per 1,000 "
                     f"views ({line.note}).")
    elif line.basis == EarningLine.Basis.REVENUE:
        steps.append(f"Revenue share of {money(line.basis_value)} net attributed ad revenue, rounded half-even "
                     f"once: {money(line.gross_minor)}." + (f" ({line.note}.)" if line.note else ""))
    elif line.basis == EarningLine.Basis.GRANT:
        steps.append(f"Fixed monthly grant of {money(line.basis_value)}"
                     + (f": {line.note}." if line.note else "."))
    else:
        steps.append("No earnings this month; the line carries corrections or an unpaid balance.")
    if line.rounding_minor:
        steps.append(f"+{line.rounding_minor} minor unit from largest-remainder rounding, so the lines sum to the "
                     "budget exactly.")
    if line.note and line.basis == EarningLine.Basis.VIEWS and "scaled" in line.note:
        steps.append("The program's total passed its budget: every partner was scaled pro rata.")
    if line.adjustments_minor:
        steps.append(f"Adjustments: {money(line.adjustments_minor)}.")
    if line.carried_in_minor:
        steps.append(f"Carried in from earlier months: {money(line.carried_in_minor)}.")
    if line.withholding_minor:
        steps.append(f"Tax withheld: {money(line.withholding_minor)}" + (
            f", {withholding_reason(line)}." if line.withholding_source else "."))
    steps.append(f"Balance: {money(line.net_minor)}.")
    if line.status == EarningLine.Status.HELD:
        steps.append(f"Held: {line.hold_reason}. The balance stays owed until the hold clears.")
    elif line.status == EarningLine.Status.CARRIED_OVER:
        if line.net_minor < 0:
            steps.append("A negative balance blocks payment; it is carried forward.")
        else:
            steps.append("Below the program's minimum payout: rolled over to next month.")
    elif line.status == EarningLine.Status.PAID:
        steps.append(f"Paid (reference {run.payment_reference}).")
    else:
        steps.append("Payable.")
    return steps


def explain_line(line: EarningLine, run: PayoutRun) -> list[str]:
    """explain() with the run's program terms (select_related("program__terms") avoids a query)."""
    terms = getattr(run.program, "terms", None)
    return explain(line, run, run.program.archetype, terms.excess_policy if terms else "")
