"""How a line was reached, in words, rebuilt from the facts the formulas stored on it."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.money import (
    format_count_for_reader,
    format_money_for_reader,
    format_percent_for_reader,
    format_share_for_reader,
)
from partnerships.models import Program
from payouts.formulas.tax import PPM
from payouts.models import EarningLine, IncomeType, PayoutRun, WithholdingSource

# The reasons the formulas write on a held line (payouts.formulas.settle and .tax), joined by "; ": in the reader's
# language. A reason typed by a person (a manual hold) is shown as typed.
HOLD_REASONS = {
    "identity not verified": gettext_lazy("identity not verified"),
    "no tax form on file": gettext_lazy("no tax form on file"),
    "no validated tax form": gettext_lazy("no validated tax form"),
    "tax form expired": gettext_lazy("tax form expired"),
    "partner suspended": gettext_lazy("partner suspended"),
    "partner removed": gettext_lazy("partner removed"),
}


def hold_reason_words(reason: str) -> str:
    """'identity not verified; tax form expired' in the reader's language, part by part."""
    return "; ".join(str(HOLD_REASONS.get(part, part)) for part in reason.split("; "))


def withholding_reason(line: EarningLine) -> str:
    """'withheld 15% (treaty: DE, royalties)': the rate a line was withheld at and where it came from."""
    rate = format_percent_for_reader(Decimal(line.withholding_ppm) / PPM)
    source = WithholdingSource(line.withholding_source)
    income = IncomeType(line.income_type).label.lower() if line.income_type else ""
    if source == WithholdingSource.TREATY:
        detail = _("treaty: {country}, {income}").format(country=line.tax_country, income=income)
    elif source == WithholdingSource.NO_TREATY:
        detail = _("no treaty for {country}, {income}: statutory rate").format(country=line.tax_country,
                                                                              income=income)
    else:
        detail = source.label
    return _("withheld {rate} ({detail})").format(rate=rate, detail=detail)


def explain(line: EarningLine, run: PayoutRun, archetype: str, excess_policy: str = "") -> list[str]:
    money = lambda amount: format_money_for_reader(amount, run.currency)  # noqa: E731
    steps: list[str] = []
    if line.basis == EarningLine.Basis.VIEWS and archetype == Program.Archetype.POOLED_FUND:
        share = _("Share of the pool: {value} of {total} qualified views ({percent}) of a {budget} budget.")
        steps.append(share.format(
            value=format_count_for_reader(line.basis_value), total=format_count_for_reader(line.basis_total),
            percent=format_share_for_reader(line.basis_value, line.basis_total), budget=money(run.budget_minor)))
        if line.capped:
            where = {"redistribute": _("was shared among the other partners"),
                     "retain": _("went back to the fund")}.get(excess_policy, _("was handled as the program says"))
            steps.append(_("Capped at {amount}; the excess over the cap {where}.").format(
                amount=money(line.gross_minor), where=where))
    elif line.basis == EarningLine.Basis.VIEWS:
        steps.append(_("{views} qualified views on eligible videos at the program's rate per 1,000 views ({note})."
                       ).format(views=format_count_for_reader(line.basis_value), note=line.note))
    elif line.basis == EarningLine.Basis.REVENUE:
        steps.append(_("Revenue share of {revenue} net attributed ad revenue, rounded half-even once: {amount}."
                       ).format(revenue=money(line.basis_value), amount=money(line.gross_minor))
                     + (f" ({line.note}.)" if line.note else ""))
    elif line.basis == EarningLine.Basis.GRANT:
        steps.append(_("Fixed monthly grant of {amount}").format(amount=money(line.basis_value))
                     + (f": {line.note}." if line.note else "."))
    else:
        steps.append(_("No earnings this month; the line carries corrections or an unpaid balance."))
    if line.rounding_minor:
        steps.append(_("+{units} minor unit from largest-remainder rounding, so the lines sum to the budget exactly."
                       ).format(units=line.rounding_minor))
    if line.note and line.basis == EarningLine.Basis.VIEWS and "scaled" in line.note:
        steps.append(_("The program's total passed its budget: every partner was scaled pro rata."))
    if line.adjustments_minor:
        steps.append(_("Adjustments: {amount}.").format(amount=money(line.adjustments_minor)))
    if line.carried_in_minor:
        steps.append(_("Carried in from earlier months: {amount}.").format(amount=money(line.carried_in_minor)))
    if line.withholding_minor:
        steps.append(_("Tax withheld: {amount}").format(amount=money(line.withholding_minor)) + (
            f", {withholding_reason(line)}." if line.withholding_source else "."))
    steps.append(_("Balance: {amount}.").format(amount=money(line.net_minor)))
    if line.status == EarningLine.Status.HELD:
        steps.append(_("Held: {reason}. The balance stays owed until the hold clears.").format(
            reason=hold_reason_words(line.hold_reason)))
    elif line.status == EarningLine.Status.CARRIED_OVER:
        if line.net_minor < 0:
            steps.append(_("A negative balance blocks payment; it is carried forward."))
        else:
            steps.append(_("Below the program's minimum payout: rolled over to next month."))
    elif line.status == EarningLine.Status.PAID:
        steps.append(_("Paid (reference {reference}).").format(reference=run.payment_reference))
    else:
        steps.append(_("Payable."))
    return steps


def explain_line(line: EarningLine, run: PayoutRun) -> list[str]:
    """explain() with the run's program terms (select_related("program__terms") avoids a query)."""
    terms = getattr(run.program, "terms", None)
    return explain(line, run, run.program.archetype, terms.excess_policy if terms else "")
