"""What a fund has released and spent: the one definition, used by computing, approval, the fund page and the
dashboard.

- A fund **releases** its money through budget tranches: a tranche of N months releases ⌊amount / N⌋ a month and
  one more cent in its first (amount mod N) months, so it is released exactly. *Released to date* at a month is
  the sum of the releases of every month up to it, never more than the fund's total. A revenue-share fund is a
  contractual commitment: its whole total counts as released from the start (only the total binds).
- A monthly run **spends** ``spend_minor``: the sum over its lines of gross + adjustments where that is positive.
  A line that takes money back (a negative adjustment larger than the month's earnings) leaves the partner owing
  it: that is a receivable in the ledger, never budget given back. A run spends from the moment it is computed
  (it reserves its spend) until it is cancelled; approved and paid runs keep spending.
- *Spent to date* at a month is what the spending runs of that month and earlier spend.
- **Invariant**, for every month whatever the order in which months are computed, approved, cancelled or
  recomputed: spent to date ≤ released to date ≤ total. A month may therefore spend at most the least, over
  itself and every later month with a spending run, of released to date − spent to date (without the run being
  computed); without rollover, also at most its own release (what a month leaves unspent lapses).
- A held line **forfeited** (payouts.services.forfeiture) gives its amount back: its month spends that much less.
  Back to the fund, that is unspent budget of the month like any other (it rolls over only if the fund rolls
  over); to the other partners, the month it is redistributed in may also spend it beyond its own release.
- ``Fund.spent_minor`` caches the spend of all its runs, so the database can refuse a total below it
  (constraint ``fund_total_covers_spend``); ``fund_refresh_spent`` keeps it, under the fund's row lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import CharField, DateField, F, Sum, Value

from core.periods import months_between, next_month
from partnerships.models import Program
from payouts.models import BudgetTranche, Forfeiture, ForfeiturePolicy, Fund, PayoutRun

# What one earning line takes from the fund, as SQL over the line's columns: its gross plus adjustments where that is
# positive (a line that takes money back is a receivable, never budget). A run's ``spend_minor`` is its sum.
LINE_SPEND_SQL = ("CASE WHEN gross_minor + adjustments_minor > 0 THEN gross_minor + adjustments_minor ELSE 0 END")


def spending_runs(fund: Fund):
    """The monthly runs that spend from the fund."""
    return PayoutRun.objects.spending().filter(program_id=fund.program_id)


ForfeitedRow = tuple[dt.date, str, "dt.date | None", int]  # (month, policy, budget month, amount)


def forfeitures_by_program(program_id: int | None = None) -> dict[int, list[ForfeitedRow]]:
    """Every program's (or one's) forfeited amounts by month, policy and budget month, in one query."""
    found: dict[int, list[ForfeitedRow]] = {}
    forfeitures = Forfeiture.objects.filter(program_id=program_id) if program_id else Forfeiture.objects.all()
    rows = (forfeitures.values_list("program_id", "month", "policy", "budget_month")
            .annotate(amount=Sum("amount_minor")).order_by())
    for program_id, month, policy, budget_month, amount in rows:
        found.setdefault(program_id, []).append((month, policy, budget_month, int(amount)))
    return found


def _forfeited(rows: list[ForfeitedRow]) -> tuple[dict[dt.date, int], dict[dt.date, int]]:
    """The amounts forfeited back to the fund, by the month whose spend they reduce; and those redistributed, by
    the month whose pool they join."""
    given_back: dict[dt.date, int] = {}
    redistributed: dict[dt.date, int] = {}
    for month, policy, budget_month, amount in rows:
        given_back[month] = given_back.get(month, 0) + amount
        if policy == ForfeiturePolicy.REDISTRIBUTE and budget_month is not None:
            redistributed[budget_month] = redistributed.get(budget_month, 0) + amount
    return given_back, redistributed


def _spend_and_forfeited(fund: Fund, excluding_run: int | None) -> tuple[dict[dt.date, int], list[ForfeitedRow]]:
    """The spend of the fund's runs by month and its forfeitures, in ONE query (a run's page and its reconciliation
    read a position, and they keep a fixed number of queries): a month has a run or two, a fund few forfeitures."""
    runs = spending_runs(fund)
    if excluding_run is not None:
        runs = runs.exclude(pk=excluding_run)
    columns = ("entry_policy", "month", "entry_amount", "entry_budget_month")
    rows = runs.order_by().annotate(
        entry_policy=Value("", output_field=CharField()), entry_amount=F("spend_minor"),
        entry_budget_month=Value(None, output_field=DateField())).values_list(*columns)
    forfeitures = (Forfeiture.objects.filter(program_id=fund.program_id).order_by()
                   .annotate(entry_policy=F("policy"), entry_amount=F("amount_minor"),
                             entry_budget_month=F("budget_month"))
                   .values_list(*columns))
    spend: dict[dt.date, int] = {}
    forfeited: list[ForfeitedRow] = []
    for kind, month, amount, later in rows.union(forfeitures, all=True):
        if kind:
            forfeited.append((month, kind, later, int(amount)))
        else:
            spend[month] = spend.get(month, 0) + int(amount or 0)
    return spend, forfeited


def month_release(tranches: Iterable[BudgetTranche], month: dt.date) -> int | None:
    """The month's release from every tranche covering it; None when no tranche covers the month."""
    total, covered = 0, False
    for tranche in tranches:
        if tranche.starts_on <= month <= tranche.ends_on:
            covered = True
            months = tranche.months
            base, extra = divmod(tranche.amount_minor, months)
            total += base + (1 if months_between(tranche.starts_on, month) < extra else 0)
    return total if covered else None


def fund_month_budget(fund: Fund, month: dt.date, tranches: list | None = None) -> int | None:
    """The month's release (see ``month_release``), reading the fund's tranches unless given."""
    return month_release(tranches if tranches is not None else fund.tranches.all(), month)


def releases_whole_total(archetype: str) -> bool:
    """A revenue share's fund is a contractual commitment: its whole total counts as released from the start."""
    return archetype == Program.Archetype.REVENUE_SHARE


def _releases_whole_total(fund: Fund) -> bool:
    return releases_whole_total(fund.program.archetype)


@dataclass(frozen=True)
class FundMonth:
    month: dt.date
    release: int  # this month's tranche release (0 when none covers it)
    released_to_date: int  # capped at the total
    spent: int  # spend of the month's spending run
    spent_to_date: int

    @property
    def unspent_to_date(self) -> int:
        return self.released_to_date - self.spent_to_date


class FundPosition:
    """A fund's releases and spend by month, read once (tranches and the spend of every spending run)."""

    def __init__(self, fund: Fund, *, excluding_run: int | None = None,
                 spend_by_month: dict[dt.date, int] | None = None,
                 forfeited: list[ForfeitedRow] | None = None) -> None:
        self.fund = fund
        self.tranches = list(fund.tranches.all())
        if spend_by_month is None and forfeited is None:
            spend_by_month, forfeited = _spend_and_forfeited(fund, excluding_run)
        if spend_by_month is None:
            runs = spending_runs(fund)
            if excluding_run is not None:
                runs = runs.exclude(pk=excluding_run)
            spend_by_month = {month: int(spent or 0)
                              for month, spent in runs.values_list("month").annotate(spent=Sum("spend_minor"))}
        if forfeited is None:
            forfeited = forfeitures_by_program(fund.program_id).get(fund.program_id, []) if fund.program_id else []
        given_back, self.redistributed = _forfeited(forfeited)
        self.spend_by_month: dict[dt.date, int] = {
            month: spend_by_month.get(month, 0) - given_back.get(month, 0) for month in {*spend_by_month, *given_back}}
        self.whole_total = _releases_whole_total(fund)

    @classmethod
    def of_funds(cls, funds: list[Fund]) -> list[FundPosition]:
        """Positions of many funds (their tranches prefetched) from one query of the runs' spend."""
        spend: dict[int, dict[dt.date, int]] = {}
        rows = (PayoutRun.objects.spending().values_list("program_id", "month").annotate(spent=Sum("spend_minor")))
        for program_id, month, spent in rows:
            spend.setdefault(program_id, {})[month] = int(spent or 0)
        forfeited = forfeitures_by_program()
        return [cls(fund, spend_by_month=spend.get(fund.program_id, {}), forfeited=forfeited.get(fund.program_id, []))
                for fund in funds]

    @property
    def spent(self) -> int:
        return sum(self.spend_by_month.values())

    @property
    def remaining(self) -> int:
        return self.fund.total_minor - self.spent

    def released_to_date(self, month: dt.date) -> int:
        if self.whole_total:
            return self.fund.total_minor
        released = sum(month_release(self.tranches, cursor) or 0 for cursor in self._months_until(month))
        return min(released, self.fund.total_minor)

    def spent_to_date(self, month: dt.date) -> int:
        return sum(spent for spent_month, spent in self.spend_by_month.items() if spent_month <= month)

    def _months_until(self, month: dt.date) -> Iterable[dt.date]:
        if not self.tranches:
            return []
        cursor, months = min(t.starts_on for t in self.tranches), []
        while cursor <= month:
            months.append(cursor)
            cursor = next_month(cursor)
        return months

    def available(self, month: dt.date) -> int:
        """What a run of ``month`` may spend without breaking spent ≤ released at that month or any later one
        (the run being computed is excluded from this position), and never more than the fund has left."""
        checkpoints = sorted({month, *(m for m in self.spend_by_month if m > month)})
        room = min(self.released_to_date(m) - self.spent_to_date(m) for m in checkpoints)
        if not self.fund.rollover_unspent and not self.whole_total:
            room = min(room, (month_release(self.tranches, month) or 0) + self.redistributed.get(month, 0))
        return max(0, min(room, self.remaining))

    def months(self) -> list[FundMonth]:
        """Every month from the first tranche to the last tranche or run, for the fund page and the dashboard."""
        if not self.tranches and not self.spend_by_month:
            return []
        starts = [t.starts_on for t in self.tranches] + list(self.spend_by_month)
        ends = [t.ends_on for t in self.tranches] + list(self.spend_by_month)
        rows, cursor, last = [], min(starts), max(ends)
        released = spent = 0
        while cursor <= last:
            release = month_release(self.tranches, cursor) or 0
            released += release
            spent += self.spend_by_month.get(cursor, 0)
            capped = self.fund.total_minor if self.whole_total else min(released, self.fund.total_minor)
            rows.append(FundMonth(month=cursor, release=release, released_to_date=capped,
                                  spent=self.spend_by_month.get(cursor, 0), spent_to_date=spent))
            cursor = next_month(cursor)
        return rows

    def months_spent_past_release(self) -> list[FundMonth]:
        return [row for row in self.months() if row.spent_to_date > row.released_to_date]

    def invariant_breaches(self) -> list[str]:
        """Months where spent to date > released to date, or released > total: empty when the fund is sound."""
        breaches = []
        for row in self.months():
            if row.spent_to_date > row.released_to_date:
                breaches.append(f"{row.month:%Y-%m}: spent to date {row.spent_to_date} "
                                f"> released {row.released_to_date}")
            if row.released_to_date > self.fund.total_minor:
                breaches.append(f"{row.month:%Y-%m}: released {row.released_to_date} > total {self.fund.total_minor}")
        return breaches


def fund_refresh_spent(fund: Fund) -> int:
    """Store the spend of the fund's runs on the fund (the caller holds the fund's row lock)."""
    spent = int(spending_runs(fund).aggregate(spent=Sum("spend_minor"))["spent"] or 0)
    spent -= int(Forfeiture.objects.filter(program_id=fund.program_id).aggregate(back=Sum("amount_minor"))["back"] or 0)
    if spent != fund.spent_minor:
        Fund.objects.filter(pk=fund.pk).update(spent_minor=spent)
        fund.spent_minor = spent
    return spent
