"""A fund's forecast: where its money goes by the end of its tranche schedule, at the pace its archetype spends.

Pure: plain values in (the fund's total and rollover setting, its tranches, saved or not, the spend of its runs by
month, the month that is "now"), a ``FundForecast`` out; no query, no clock. Money is integer minor units throughout
(the trend is an exact ``Fraction``, rounded half-even to a cent once per month).

- **Actual** months run to the latest month with a spending run. The **projection** starts the month after (at the
  schedule's first month when no run has spent yet) and ends with the schedule's last month (the last tranche's
  ``ends_on``): a later month has no budget, so no run. A month no tranche covers inside the schedule has no run
  either, except in a revenue share, whose whole total is released from the start (see payouts.funds).
- **What a month may spend** is payouts.funds' rule (``FundPosition.available``): released to date − spent to date,
  without rollover never more than the month's own release, and never more than the fund has left.
- **Pace by archetype.** A pooled fund spends what its month may spend (its release, plus what earlier months left
  when unspent budget rolls over) times the program's pool share, floored to a cent, as its formula does; but when
  its latest run left part of its pool unspent (every member at the partner cap, or no one qualified), no more than
  that run spent, since its members could take no more. A revenue
  share, rate-per-1,000-views or grant program follows the trend of its latest runs: the least-squares line through
  the spend of up to ``TREND_RUNS`` latest runs by calendar month (with fewer than ``TREND_MIN_RUNS`` runs, their
  average), never below 0; a month spends that, or what it may spend when less.
- **Unspent release.** Without rollover what a month leaves of its release lapses at the month's end; with rollover
  it carries to the next month, and what is left after the schedule's last month stays in the fund (it rolls over
  into any tranche added later). Either way the unspent amount at the end is released to date − spent to date at
  the schedule's last month, counted on the schedule's last day; ``ForecastMonth.lapsed`` says when it lapses.
  Money in no tranche (the total above what the tranches release) is never released and is counted apart.
- **Runs short**: the first projected month whose pace asks more than it may spend, so its run cannot be paid in
  full. Being at or before the schedule's last month, it is the warning that the pace exhausts the fund before its
  schedule ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from core.periods import add_months, month_end, months_between, next_month
from partnerships.models import Program
from payouts.funds import month_release, releases_whole_total
from payouts.models import BudgetTranche

TREND_RUNS = 6  # the trend reads the spend of the latest six runs at most
TREND_MIN_RUNS = 3  # with fewer, their average: two points make a line from noise
HORIZON_MONTHS = 120  # a fund without a schedule is projected ten years at most

PACE_RELEASE, PACE_TREND, PACE_NONE = "release", "trend", "none"
LAPSES, ROLLS_OVER = "lapses", "rolls over"


@dataclass(frozen=True)
class ForecastMonth:
    month: dt.date
    release: int  # what the month releases (0 when no tranche covers it; never past the total)
    spent: int  # the month's run: actual, or projected when ``projected``
    projected: bool
    released_to_date: int
    spent_to_date: int
    remaining: int  # total − spent to date
    scheduled_remaining: int  # total − released to date: what the fund would hold were every release spent
    lapsed: int  # without rollover, the release left unspent, which lapses at the month's end


@dataclass(frozen=True)
class ScheduleSlice:
    """The part of a tranche still to be released: ``amount_minor`` over starts_on..ends_on, ``monthly_minor`` a
    month (one cent more in the tranche's first months when its amount does not divide evenly)."""

    starts_on: dt.date
    ends_on: dt.date
    amount_minor: int
    monthly_minor: int


@dataclass(frozen=True)
class FundForecast:
    total: int
    as_of: dt.date
    months: list[ForecastMonth]
    released_so_far: int  # released to date at ``as_of`` (the whole total for a revenue share)
    spent_so_far: int  # what the spending runs spend
    remaining_schedule: list[ScheduleSlice]  # releases after ``as_of``
    to_be_released: int  # what the schedule still releases after ``as_of``, within the total
    unscheduled: int  # the total above what every tranche releases: never released
    pace: str  # PACE_RELEASE, PACE_TREND or PACE_NONE
    pace_runs: int  # how many runs the trend reads (0 unless PACE_TREND)
    pooled_ceiling: int | None  # a pooled fund's latest run left part of its pool unspent: at most what it spent
    pool_share: Decimal
    ends_on: dt.date | None  # the schedule's last month; None without a tranche
    unspent_policy: str  # LAPSES or ROLLS_OVER
    unspent_at_end: int | None  # released and never spent by the schedule's end; None without a schedule
    unspent_on: dt.date | None  # the schedule's last day, when that amount has lapsed or rolls over
    runs_short_on: dt.date | None  # the first projected month whose run cannot be paid in full
    runs_out_on: dt.date | None  # the first month after which the fund holds nothing

    @property
    def exhausts_before_end(self) -> bool:
        """The warning: at this pace the fund cannot pay a run in full before its schedule ends."""
        return self.runs_short_on is not None and self.ends_on is not None and self.runs_short_on <= self.ends_on

    @property
    def first_projected(self) -> ForecastMonth | None:
        return next((row for row in self.months if row.projected), None)

    @property
    def projected_lapse(self) -> int:
        return sum(row.lapsed for row in self.months if row.projected)


def _index(month: dt.date) -> int:
    return month.year * 12 + month.month - 1


def trend(spend_by_month: Mapping[dt.date, int]) -> tuple[int, Fraction, Fraction]:
    """(runs read, level, slope): the pace at month index x is level + slope × (x − mean index of the runs read)."""
    points = sorted(spend_by_month.items())[-TREND_RUNS:]
    count = len(points)
    mean_x = Fraction(sum(_index(month) for month, _ in points), count)
    mean_y = Fraction(sum(spent for _, spent in points), count)
    if count < TREND_MIN_RUNS:
        return count, mean_y, Fraction(0)
    sxx = sum((_index(month) - mean_x) ** 2 for month, _ in points)
    sxy = sum((_index(month) - mean_x) * (spent - mean_y) for month, spent in points)
    return count, mean_y, (sxy / sxx if sxx else Fraction(0))


def _remaining_schedule(tranches: Sequence[BudgetTranche], as_of: dt.date) -> list[ScheduleSlice]:
    slices = []
    for tranche in sorted(tranches, key=lambda t: (t.starts_on, t.ends_on)):
        first = max(tranche.starts_on, next_month(as_of))
        if first > tranche.ends_on:
            continue
        base, extra = divmod(tranche.amount_minor, tranche.months)
        done = months_between(tranche.starts_on, first)  # months of the tranche released by ``as_of``
        amount = tranche.amount_minor - base * done - min(done, extra)
        slices.append(ScheduleSlice(starts_on=first, ends_on=tranche.ends_on, amount_minor=amount,
                                    monthly_minor=base + (1 if done < extra else 0)))
    return slices


def _pooled_ceiling(spend_by_month: Mapping[dt.date, int], budget_by_month: Mapping[dt.date, int],
                    pool_share: Decimal) -> int | None:
    """What the latest run spent when it left part of its pool unspent (every member at the cap, or no one
    qualified): its members could take no more, so neither are later months projected to. None otherwise."""
    if not spend_by_month:
        return None
    latest = max(spend_by_month)
    if latest not in budget_by_month:
        return None
    pool = int((Decimal(budget_by_month[latest]) * pool_share).to_integral_value(rounding=ROUND_FLOOR))
    return spend_by_month[latest] if spend_by_month[latest] < pool else None


def forecast_fund(*, archetype: str, total_minor: int, rollover_unspent: bool, tranches: Sequence[BudgetTranche],
                  spend_by_month: Mapping[dt.date, int], as_of: dt.date, pool_share: Decimal = Decimal("1"),
                  budget_by_month: Mapping[dt.date, int] | None = None) -> FundForecast:
    """The fund's months from its first tranche (or run) to the end of its schedule, actual then projected.
    ``budget_by_month`` is what each actual run could spend (``PayoutRun.budget_minor``), which tells a pooled fund
    whose latest run was held back by its partner cap."""
    tranches = list(tranches)
    whole_total = releases_whole_total(archetype)
    monthly_lapse = not rollover_unspent and not whole_total  # a revenue share releases all at once: no month lapses
    as_of = as_of.replace(day=1)
    starts_on = min((t.starts_on for t in tranches), default=None)
    ends_on = max((t.ends_on for t in tranches), default=None)
    actual = sorted(spend_by_month)
    last_actual = actual[-1] if actual else None

    ceiling = None
    if archetype == Program.Archetype.POOLED_FUND:
        pace, runs, level, slope = PACE_RELEASE, 0, Fraction(0), Fraction(0)
        ceiling = _pooled_ceiling(spend_by_month, budget_by_month or {}, pool_share)
    elif archetype in (Program.Archetype.REVENUE_SHARE, Program.Archetype.RATE_PER_MILLE,
                       Program.Archetype.GRANT) and actual:
        pace = PACE_TREND
        runs, level, slope = trend(spend_by_month)
    else:
        pace, runs, level, slope = PACE_NONE, 0, Fraction(0), Fraction(0)
    trend_from = Fraction(sum(_index(m) for m in actual[-TREND_RUNS:]), len(actual[-TREND_RUNS:])) if runs else 0

    project_from = next_month(last_actual) if last_actual else starts_on
    project_to = ends_on if ends_on is not None else (
        add_months(project_from, HORIZON_MONTHS - 1) if pace == PACE_TREND and project_from else None)
    if pace == PACE_NONE or project_from is None or project_to is None or project_from > project_to:
        project_from = project_to = None
    first = min([m for m in (starts_on, *actual[:1]) if m is not None], default=None)
    last = max([m for m in (ends_on, last_actual, project_to) if m is not None], default=None)

    rows: list[ForecastMonth] = []
    released = spent_to_date = released_capped = 0  # ``released`` is uncapped: what the tranches have released
    runs_short_on = runs_out_on = None
    month = first
    while month is not None and last is not None and month <= last:
        covered = month_release(tranches, month)
        released += covered or 0
        before = released_capped
        released_capped = total_minor if whole_total else min(released, total_minor)
        release = released_capped - before if not whole_total else (covered or 0)
        projected = project_from is not None and project_to is not None and project_from <= month <= project_to
        if not projected:
            spent = spend_by_month.get(month, 0)
        elif covered is None and not whole_total:
            spent = 0  # a gap in the schedule: no budget, so no run
        else:
            room = (total_minor if whole_total else released) - spent_to_date  # uncapped by the total
            if monthly_lapse:
                room = min(room, covered or 0)
            room = max(0, room)
            may = min(room, max(0, total_minor - spent_to_date))
            if pace == PACE_RELEASE:
                asks = int((Decimal(room) * pool_share).to_integral_value(rounding=ROUND_FLOOR))
                if ceiling is not None:
                    asks = min(asks, ceiling)
            else:
                asks = max(0, round(level + slope * (_index(month) - trend_from)))
            spent = min(asks, may)
            if asks > may and runs_short_on is None:
                runs_short_on = month
        spent_to_date += spent
        remaining = total_minor - spent_to_date
        if runs_out_on is None and remaining <= 0 and spent > 0:
            runs_out_on = month
        lapsed = max(0, release - spent) if monthly_lapse and covered is not None else 0
        rows.append(ForecastMonth(month=month, release=release, spent=spent, projected=projected,
                                  released_to_date=released_capped, spent_to_date=spent_to_date,
                                  remaining=remaining, scheduled_remaining=total_minor - released_capped,
                                  lapsed=lapsed))
        if ends_on is None and projected and remaining <= 0:
            break  # no schedule: the projection stops when the money does
        month = next_month(month)

    so_far = [row for row in rows if row.month <= as_of]
    released_so_far = total_minor if whole_total else (so_far[-1].released_to_date if so_far else 0)
    at_end = next((row for row in rows if row.month == ends_on), None)
    # months of the schedule still to come without a pace to project them: what they leave unspent is unknown
    unknown_pace = pace == PACE_NONE and ends_on is not None and (last_actual is None or last_actual < ends_on)
    scheduled = sum(t.amount_minor for t in tranches)
    return FundForecast(
        total=total_minor, as_of=as_of, months=rows, released_so_far=released_so_far,
        spent_so_far=sum(spend_by_month.values()),
        remaining_schedule=[] if whole_total else _remaining_schedule(tranches, as_of),
        to_be_released=0 if whole_total else max(0, min(scheduled, total_minor) - released_so_far),
        unscheduled=0 if whole_total else max(0, total_minor - scheduled),
        pace=pace, pace_runs=runs, pooled_ceiling=ceiling, pool_share=pool_share, ends_on=ends_on,
        unspent_policy=ROLLS_OVER if rollover_unspent else LAPSES,
        unspent_at_end=None if at_end is None or unknown_pace else at_end.released_to_date - at_end.spent_to_date,
        unspent_on=None if ends_on is None else month_end(ends_on),
        runs_short_on=runs_short_on, runs_out_on=runs_out_on)
