"""Reads shared by the admin, the management commands and the exports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import QuerySet

from partnerships.models import Partner
from payouts.exceptions import NO_PAYMENT_FILE, RunRefused
from payouts.explain import explain_line
from payouts.models import EarningLine, PayoutRun
from payouts.money import to_major

STATEMENT_HEADER = ["partner", "display_name", "program", "month", "status", "basis", "basis_value", "gross",
                    "adjustments", "carried_in", "withholding", "net", "currency", "hold_reason", "explanation"]
PAYMENT_HEADER = ["partner", "display_name", "amount", "currency", "reference"]


def run_lines(run: PayoutRun) -> QuerySet[EarningLine]:
    return EarningLine.objects.filter(run=run).select_related("partner").order_by("partner__handle")


def partner_statement(partner: Partner, month: dt.date) -> list[tuple[PayoutRun, EarningLine, list[str]]]:
    """The partner's lines of every monthly run of that month, with explanations."""
    lines = (EarningLine.objects.filter(partner=partner, run__month=month, run__kind=PayoutRun.Kind.FINAL)
             .exclude(run__status=PayoutRun.Status.CANCELLED)
             .select_related("run", "run__program", "run__program__terms").order_by("run__program__name"))
    return [(line.run, line, explain_line(line, line.run)) for line in lines]


def statement_row(run: PayoutRun, line: EarningLine, steps: list[str]) -> list:
    currency = run.currency
    return [line.partner.handle, line.partner.display_name, run.program.name, run.month.strftime("%Y-%m"),
            line.get_status_display(), line.get_basis_display(), line.basis_value, to_major(line.gross_minor, currency),
            to_major(line.adjustments_minor, currency), to_major(line.carried_in_minor, currency),
            to_major(line.withholding_minor, currency), to_major(line.net_minor, currency), currency,
            line.hold_reason, " ".join(steps)]


def run_statement_rows(run: PayoutRun) -> Iterator[list]:
    """Every line of a run as statement rows, streamed in chunks (a run may have a million lines)."""
    for line in run_lines(run).iterator(chunk_size=5000):
        yield statement_row(run, line, explain_line(line, run))


def payment_rows(run: PayoutRun) -> Iterator[list]:
    """The bank file: one row per line paid in this run, with a reference unique to the line. Only an
    approved (or paid) run has one: a computed run has not passed its second pair of eyes."""
    if run.status not in (PayoutRun.Status.APPROVED, PayoutRun.Status.PAID):
        raise RunRefused(NO_PAYMENT_FILE.format(run=run, status=run.get_status_display().lower()))
    return _payment_rows(run)


def _payment_rows(run: PayoutRun) -> Iterator[list]:
    status = EarningLine.Status.PAID if run.status == PayoutRun.Status.PAID else EarningLine.Status.PAYABLE
    for line in run_lines(run).filter(status=status).iterator(chunk_size=5000):
        yield [line.partner.handle, line.partner.display_name, to_major(line.net_minor, run.currency), run.currency,
               f"CP-{run.pk}-{line.pk}"]
