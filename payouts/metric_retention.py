"""What payouts still read of the daily metrics, for their retention (partnerships.services.partitions): a month may
be archived only when no pooled-fund computation can read it again.

A pooled fund's monthly run reads its month's daily metrics (and rollups), and screening reads the ScreeningRules
window (``spike_window_days``, 14 to 365 days) up to the month's last day. So each of these keeps its month and
that window:

- a monthly run not approved yet (computing, computed or failed): it is computed again before approval;
- a month of a pooled fund's tranches, up to this month, without an approved or paid monthly run (not closed): it
  can still be computed, and the current month is estimated.

Approved and paid runs keep their lines, statements and ledger: nothing about them reads the daily metrics again
(the run page's daily chart of a flagged line shows nothing for an archived month)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from core import periods
from partnerships.models import Program
from payouts.models import BudgetTranche, PayoutRun, ScreeningRules

OPEN_STATUSES = (PayoutRun.Status.COMPUTING, PayoutRun.Status.COMPUTED, PayoutRun.Status.FAILED)
CLOSING_STATUSES = (PayoutRun.Status.APPROVED, PayoutRun.Status.PAID)
OPEN_RUN = "run {run} of {program} for {month:%Y-%m} is {status}, not approved yet: computing it again reads them"
UNCLOSED = "{program} has no approved run for {month:%Y-%m}: computing it reads them"


def _reads(month: dt.date, window_days: int) -> tuple[dt.date, dt.date]:
    """The days a pooled month's computation reads: the month and the screening window up to its last day."""
    last = periods.month_end(month)
    return min(month, last - dt.timedelta(days=window_days - 1)), last


def metric_days_needed(today: dt.date) -> Iterator[tuple[dt.date, dt.date, str]]:
    """(first day, last day, why) for each open run and each unclosed month of every pooled fund."""
    this_month = periods.month_start(today)
    for program in Program.objects.filter(archetype=Program.Archetype.POOLED_FUND).order_by("pk"):
        window = ScreeningRules.for_program(program).spike_window_days
        runs = PayoutRun.objects.final().filter(program=program)
        open_runs = list(runs.filter(status__in=OPEN_STATUSES).order_by("month"))
        for run in open_runs:
            yield *_reads(run.month, window), OPEN_RUN.format(run=run.pk, program=program, month=run.month,
                                                              status=run.status)
        closed = set(runs.filter(status__in=CLOSING_STATUSES).values_list("month", flat=True))
        months: set[dt.date] = set()
        for starts_on, ends_on in BudgetTranche.objects.filter(fund__program=program).values_list(
                "starts_on", "ends_on"):
            if starts_on <= this_month:
                months.update(periods.months_in(starts_on, min(ends_on, this_month)))
        for month in sorted(months - closed - {run.month for run in open_runs}):  # an open run said it already
            yield *_reads(month, window), UNCLOSED.format(program=program, month=month)
