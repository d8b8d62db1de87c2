"""The year-end tax figures per partner: gross, withheld and net by program and income type, as a 1099 or a
1042-S filing needs them. One aggregate query over the earning lines; read by the admin page and the
``tax_year_export`` command (the same rows, the same CSV).

Which lines count for a year: the lines of the monthly runs *approved* in that calendar year (UTC), whatever the
line's status. Approval is when the ledger credits the partner (gross + adjustments − withholding to their payable
balance) and posts the withholding: the tax event of this system. A held line counts in the year it was credited
and withheld, not in the year its balance is finally paid out (the later run carries it in, without new gross or
withholding, so nothing is counted twice). Gross is gross + adjustments (a negative adjustment reduces it); net is
gross − withheld.

That is the ``approved`` basis (the default). The ``paid`` basis counts instead the lines whose money reached the
partner in that calendar year (UTC): the payment that carried them (their PaymentItem) ended paid, dated by the
booking date of the statement entry that settled it when the bank gave one, else the day it was marked paid
(settled_at); a line of a run marked paid by hand, with no payment, is dated by the run's paid_at. A line whose
money did not go out with it reaches the partner through a later run: its payment was returned or failed, or it was
held or carried over (below the minimum payout); its net went (back) onto the partner's payable balance, and the
program's next run computed after that carries the balance in. Such a line is dated by the first later line of the
same partner and program that carries a balance in (computed after the money went back on the balance) and was paid
directly; the carrying line brings no gross or withholding of its own, so nothing is counted twice. A forfeited
line never reaches the partner and never counts; a line still pending, sent, or waiting on the balance does not
count yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.db.models import Case, Count, F, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.db.models.functions import Coalesce, TruncDate

from core.money import format_percent, to_major
from payouts.exports import write_csv
from payouts.formulas.tax import PPM
from payouts.models import EarningLine, IncomeType, Payment, PayoutRun, StatementLine

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
YEAR_OUT_OF_RANGE = "The tax year is a year from {low} to {high}, not {year!r}."
APPROVED, PAID = "approved", "paid"
BASES = {APPROVED: "the runs approved in the year", PAID: "the lines paid to the partner in the year"}
BASIS_UNKNOWN = ("The basis is 'approved' (the lines of the runs approved in the year) or 'paid' (the lines whose "
                 "payment reached the partner in the year), not {value!r}.")
HEADER = ["handle", "display_name", "form_type", "residence_country", "program", "program_name", "currency",
          "income_type", "gross", "withheld", "net", "rates_applied", "lines"]


@dataclass(frozen=True)
class TaxYearRow:
    handle: str
    display_name: str
    form_type: str
    residence_country: str
    program: str
    program_name: str
    currency: str
    income_type: str
    gross_minor: int
    withheld_minor: int
    lines: int
    lowest_ppm: int
    highest_ppm: int

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.withheld_minor

    @property
    def rates_applied(self) -> str:
        low, high = (format_percent(Decimal(ppm) / PPM) for ppm in (self.lowest_ppm, self.highest_ppm))
        return low if low == high else f"{low} to {high}"


def parse_year(value: object) -> int:
    """A year typed by a person or given on the command line, strictly: four digits in the supported range."""
    text = str(value).strip() if value is not None else ""
    if not (text.isascii() and text.isdigit() and len(text) == 4) or not EARLIEST_YEAR <= int(text) <= LATEST_YEAR:
        raise ValueError(YEAR_OUT_OF_RANGE.format(low=EARLIEST_YEAR, high=LATEST_YEAR, year=value))
    return int(text)


def parse_basis(value: object) -> str:
    """The basis typed by a person or given on the command line, strictly: ``approved`` or ``paid``."""
    text = value.strip() if isinstance(value, str) else value
    if text not in BASES:
        raise ValueError(BASIS_UNKNOWN.format(value=str(value)[:40]))
    return str(text)


def _approved_lines(year: int) -> QuerySet[EarningLine]:
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    return EarningLine.objects.filter(
        run__kind=PayoutRun.Kind.FINAL, run__status__in=[PayoutRun.Status.APPROVED, PayoutRun.Status.PAID],
        run__approved_at__gte=start, run__approved_at__lt=start.replace(year=year + 1))


# A line its payment (or its run, paid by hand) paid directly.
PAID_DIRECTLY = (Q(payment_item__payment__status=Payment.Status.PAID)
                 | Q(payment_item__isnull=True, status=EarningLine.Status.PAID, run__status=PayoutRun.Status.PAID))


def _paid_on() -> Case:
    """The day a directly paid line's money reached the partner: the booking date of the statement entry that
    settled its payment, else the day the payment was marked paid; a line of a run paid by hand: the run's paid_at."""
    booked = StatementLine.objects.filter(
        statement_id=OuterRef("payment_item__payment__paid_statement_id"),
        payment_id=OuterRef("payment_item__payment_id"), result=StatementLine.Result.PAID,
    ).values("booking_date")[:1]
    return Case(
        When(payment_item__isnull=True, then=TruncDate("run__paid_at", tzinfo=dt.UTC)),
        default=Coalesce(Subquery(booked), TruncDate("payment_item__payment__settled_at", tzinfo=dt.UTC)))


def _back_on_balance() -> Case:
    """When a line's net went (back) onto the partner's payable balance for a later run to carry in: when its
    payment was returned or failed, or, for a line held or carried over (below the minimum) and never forfeited,
    when its run was approved. NULL for any other line."""
    return Case(
        When(payment_item__payment__status__in=[Payment.Status.RETURNED, Payment.Status.FAILED],
             then=F("payment_item__payment__settled_at")),
        When(payment_item__isnull=True, forfeiture__isnull=True,
             status__in=[EarningLine.Status.HELD, EarningLine.Status.CARRIED_OVER], then=F("run__approved_at")),
        default=None)


def _paid_lines(year: int) -> QuerySet[EarningLine]:
    """The lines paid in ``year`` (see the module docstring), each dated by one expression in one query."""
    carrier = (EarningLine.objects
               .filter(PAID_DIRECTLY, partner_id=OuterRef("partner_id"), run__program_id=OuterRef("run__program_id"),
                       run__kind=PayoutRun.Kind.FINAL, run__computed_at__gt=OuterRef("back_on_balance"))
               .exclude(carried_in_minor=0)
               .annotate(carrier_paid_on=_paid_on()).order_by("run__computed_at", "pk").values("carrier_paid_on")[:1])
    paid_on = Case(When(PAID_DIRECTLY, then=_paid_on()),
                   When(back_on_balance__isnull=False, then=Subquery(carrier)), default=None)
    return (EarningLine.objects.filter(run__kind=PayoutRun.Kind.FINAL).annotate(back_on_balance=_back_on_balance())
            .annotate(paid_on=paid_on).filter(paid_on__gte=dt.date(year, 1, 1), paid_on__lt=dt.date(year + 1, 1, 1)))


def tax_year_figures(year: int, basis: str = APPROVED) -> list[TaxYearRow]:
    """One row per partner, program and income type with lines counted in ``year`` on ``basis`` (approved: in the
    runs approved in the year; paid: paid to the partner in the year)."""
    lines = _paid_lines(year) if parse_basis(basis) == PAID else _approved_lines(year)
    rows = (lines.values("partner__handle", "partner__display_name", "partner__tax_profile__form_type",
                         "partner__tax_profile__residence_country", "run__program__slug", "run__program__name",
                         "run__currency", "income_type")
            .annotate(gross=Sum(F("gross_minor") + F("adjustments_minor")), withheld=Sum("withholding_minor"),
                      count=Count("pk"), low=Min("withholding_ppm"), high=Max("withholding_ppm"))
            .order_by("partner__handle", "run__program__slug", "income_type"))
    return [TaxYearRow(handle=row["partner__handle"], display_name=row["partner__display_name"],
                       form_type=row["partner__tax_profile__form_type"] or "",
                       residence_country=row["partner__tax_profile__residence_country"] or "",
                       program=row["run__program__slug"], program_name=row["run__program__name"],
                       currency=row["run__currency"], income_type=row["income_type"], gross_minor=int(row["gross"]),
                       withheld_minor=int(row["withheld"]), lines=row["count"], lowest_ppm=int(row["low"]),
                       highest_ppm=int(row["high"]))
            for row in rows]


def tax_year_rows(year: int, basis: str = APPROVED) -> Iterator[list]:
    """The CSV rows: money in major units beside its currency (numbers stay numbers in a spreadsheet)."""
    for row in tax_year_figures(year, basis):
        income = IncomeType(row.income_type).label if row.income_type else "not recorded (computed before tax profiles)"
        yield [row.handle, row.display_name, row.form_type, row.residence_country, row.program, row.program_name,
               row.currency, income, to_major(row.gross_minor, row.currency),
               to_major(row.withheld_minor, row.currency), to_major(row.net_minor, row.currency), row.rates_applied,
               row.lines]


class Writable(Protocol):
    def write(self, text: str, /) -> object: ...


def tax_year_write_csv(stream: Writable, year: int, basis: str = APPROVED) -> int:
    """Write the year's CSV on ``basis`` to ``stream``; returns the number of rows."""
    return write_csv(stream, HEADER, tax_year_rows(year, basis))


def tax_year_file_name(year: int, basis: str = APPROVED) -> str:
    return f"tax-year-{year}.csv" if basis == APPROVED else f"tax-year-{year}-{basis}.csv"
