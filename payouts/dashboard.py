"""What the admin's front page shows: the state of the work and of the money, at a glance.

Reads only, in a fixed handful of aggregate queries whatever the number of programs, funds or lines:
applications waiting per program, runs waiting for approval, each fund's forecast over its tranche schedule
(payouts.forecast: released so far and still to come, the pace of its archetype, what lapses or rolls over by the
end, a warning when the pace exhausts it first) drawn as a burn-down, payouts by country for the latest closed
month, failed imports.
Each part is shown only to users who may see the objects behind it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Max, OuterRef, Prefetch, Subquery, Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core.money import format_amount, format_money, to_major
from core.periods import add_months
from ingestion.models import ImportJob
from partnerships.models import Enrolment
from payouts.charts import horizontal_bars, line_chart
from payouts.forecast import LAPSES, PACE_RELEASE, PACE_TREND, ForecastMonth, FundForecast, forecast_fund
from payouts.funds import FundPosition
from payouts.models import BudgetTranche, EarningLine, Forfeiture, Fund, PayoutRun, ProgramTerms

CHART_MONTHS = 36  # the longest stretch of a fund's schedule drawn (a three-year fund fits)
FAILED_IMPORTS_SHOWN = 10


@dataclass
class FundSummary:
    fund: Fund
    total: str
    spent: str
    remaining: str
    remaining_minor: int
    pace: str  # how the forecast paces the fund (payouts.forecast)
    runs_out: dt.date | None  # the month its money is projected to run out
    projection: str  # what is left unspent by the schedule's end, and whether it lapses or rolls over
    chart: str  # the burn-down: left in the fund, actual and projected
    months: list[dict] = field(default_factory=list)  # the chart's months, for the table beside it
    forecast: FundForecast | None = None
    schedule: str = ""  # released so far and the tranches still to come
    warning: str | None = None  # the pace exhausts the fund before its schedule ends
    shows_lapses: bool = False


def _admin_url(name: str, *args, query: str = "") -> str | None:
    try:
        return reverse(f"admin:{name}", args=args) + (f"?{query}" if query else "")
    except NoReverseMatch:
        return None


def applications_waiting() -> list[dict]:
    rows = (Enrolment.objects.awaiting_decision().values("program_id", "program__name")
            .annotate(waiting=Count("id"), oldest=Max("submitted_at")).order_by("-waiting", "program__name"))
    queue = _admin_url("partnerships_enrolment_changelist")
    return [{"program": row["program__name"], "waiting": row["waiting"],
             "url": f"{queue}?status__exact=submitted&program__id__exact={row['program_id']}" if queue else None}
            for row in rows]


def runs_awaiting_approval() -> list[dict]:
    runs = (PayoutRun.objects.final().filter(status=PayoutRun.Status.COMPUTED)
            .select_related("program", "started_by").order_by("month", "program__name"))
    return [{"run": run, "total": format_money(run.total_gross_minor, run.currency), "lines": run.line_count,
             "started_by": run.started_by or "the scheduler", "url": _admin_url("payouts_payoutrun_change", run.pk)}
            for run in runs]


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _schedule_text(forecast: FundForecast, currency: str) -> str:
    """Released so far and what the tranches still release."""
    if not forecast.months and not forecast.released_so_far:
        return "No budget tranche yet."
    if forecast.released_so_far == forecast.total and not forecast.remaining_schedule and forecast.unscheduled == 0:
        return f"Released: all of it ({format_money(forecast.total, currency)})."
    text = f"Released so far {format_money(forecast.released_so_far, currency)} (to {forecast.as_of:%B %Y})"
    if forecast.remaining_schedule:
        slices = "; ".join(f"{format_money(s.amount_minor, currency)} from {s.starts_on:%b %Y} to {s.ends_on:%b %Y} "
                           f"({format_money(s.monthly_minor, currency)} a month)" for s in forecast.remaining_schedule)
        text += f", {format_money(forecast.to_be_released, currency)} still to come: {slices}"
    else:
        text += ", nothing more scheduled"
    if forecast.unscheduled:
        text += f"; {format_money(forecast.unscheduled, currency)} of the total is in no tranche"
    return text + "."


def _pace_text(forecast: FundForecast, currency: str) -> str:
    if forecast.pace == PACE_RELEASE:
        percent = (forecast.pool_share * 100).normalize()
        share = "" if forecast.pool_share == 1 else f", paying its pool share of {percent:f}%"
        if forecast.pooled_ceiling is not None:
            return (f"Pace: a pooled fund spends what each month may spend{share}, but its latest run left part of "
                    f"its pool unspent (its members at the partner cap, or none qualified): at most "
                    f"{format_money(forecast.pooled_ceiling, currency)} a month, as that run spent.")
        return f"Pace: a pooled fund spends what each month may spend{share}."
    if forecast.pace == PACE_TREND:
        runs = f"its last {forecast.pace_runs} run{'s' if forecast.pace_runs > 1 else ''}"
        first = forecast.first_projected
        nxt = f", {format_money(first.spent, currency)} in {first.month:%B %Y}" if first else ""
        return f"Pace: the trend of {runs}{nxt}."
    return "No monthly run has spent from it yet: no pace to project."


def _outlook(forecast: FundForecast, remaining: int, currency: str) -> tuple[str, str | None]:
    """(what the projection says, the warning when the pace exhausts the fund before its schedule ends)."""
    if remaining <= 0:
        return "The fund is spent.", None
    if forecast.exhausts_before_end and forecast.runs_short_on and forecast.ends_on:
        when = ("the last month of its schedule" if forecast.runs_short_on == forecast.ends_on
                else f"before its schedule ends in {forecast.ends_on:%B %Y}")
        return "", (f"At this pace the fund runs short in {forecast.runs_short_on:%B %Y}, {when}: that month's run "
                    "cannot be paid in full.")
    if forecast.ends_on is None:
        if forecast.pace != PACE_TREND:
            return "", None
        if forecast.runs_out_on:
            return f"At this pace it runs out in {forecast.runs_out_on:%B %Y} (it has no tranche schedule).", None
        last = forecast.months[-1].month
        return f"At this pace it lasts past {last:%B %Y} (it has no tranche schedule).", None
    if forecast.unspent_at_end is None or forecast.unspent_on is None:
        return "", None
    end = _day(forecast.unspent_on)
    if forecast.unspent_at_end <= 0:
        if forecast.runs_out_on:
            return f"At this pace it runs out in {forecast.runs_out_on:%B %Y}, as its schedule ends: nothing is " \
                   "left unspent.", None
        return f"At this pace every release is spent by {end}, when its schedule ends.", None
    amount = format_money(forecast.unspent_at_end, currency)
    if forecast.unspent_policy == LAPSES:
        to_come = format_money(forecast.projected_lapse, currency)
        return (f"At this pace {amount} of its release lapses unspent by {end}, when its schedule ends "
                f"({to_come} of it in months still to come)."), None
    return (f"At this pace {amount} is left unspent when its schedule ends on {end}: it rolls over, for a tranche "
            "still to be added."), None


def _burn_down(fund: Fund, rows: list[ForecastMonth], forecast: FundForecast) -> str:
    """What is left in the fund month by month: actual, projected, and were every release spent."""
    if not rows:
        return ""
    last_actual = max((i for i, row in enumerate(rows) if not row.projected and
                       (forecast.first_projected is None or row.month < forecast.first_projected.month)), default=None)
    major = [float(to_major(row.remaining, fund.currency)) for row in rows]
    actual = [value if not row.projected else None for value, row in zip(major, rows, strict=True)]
    projected = [value if row.projected or index == last_actual and any(r.projected for r in rows) else None
                 for index, (value, row) in enumerate(zip(major, rows, strict=True))]
    schedule: list[float | None] = [float(to_major(row.scheduled_remaining, fund.currency)) for row in rows]
    marker_month = forecast.runs_short_on if forecast.exhausts_before_end else forecast.runs_out_on
    return line_chart(
        labels=[f"{row.month:%b %y}" for row in rows],
        series=[("Left in the fund", "#1f5f99", actual, ""),
                ("Projected", "#c66a00", projected, "6 4"),
                ("Were every release spent", "#8a94a6", schedule, "2 3")],
        unit=fund.currency, title=f"{fund.name}: what is left in the fund, month by month",
        marker=next((i for i, row in enumerate(rows) if row.month == marker_month), None),
        marker_label="runs short" if forecast.exhausts_before_end else "runs out")


def _pool_share(fund: Fund) -> Decimal:
    try:
        return Decimal(fund.program.terms.pool_share)
    except ProgramTerms.DoesNotExist:
        return Decimal("1")


def fund_summaries(today: dt.date | None = None) -> list[FundSummary]:
    today = today or timezone.localdate()
    funds = list(Fund.objects.select_related("program", "program__terms").order_by("name")
                 .prefetch_related(Prefetch("tranches", queryset=BudgetTranche.objects.order_by("starts_on"))))
    spend: dict[int, dict[dt.date, int]] = {}
    budgets: dict[int, dict[dt.date, int]] = {}
    # What forfeitures gave back (payouts.funds) is taken off the month's spend in the same query: a forfeited line's
    # month always has its approved run.
    given_back = (Forfeiture.objects.filter(program_id=OuterRef("program_id"), month=OuterRef("month"))
                  .values("program_id").annotate(amount=Sum("amount_minor")).values("amount"))
    rows = (PayoutRun.objects.spending().values_list("program_id", "month")
            .annotate(spent=Sum("spend_minor"), budget=Sum("budget_minor"), back=Subquery(given_back)))
    for program_id, month, spent, budget, back in rows:  # one query for every fund (as FundPosition.of_funds)
        spend.setdefault(program_id, {})[month] = int(spent or 0) - int(back or 0)
        budgets.setdefault(program_id, {})[month] = int(budget or 0)
    summaries = []
    for fund in funds:
        position = FundPosition(fund, spend_by_month=spend.get(fund.program_id, {}), forfeited=[])
        remaining = position.remaining
        forecast = forecast_fund(archetype=fund.program.archetype, total_minor=fund.total_minor,
                                 rollover_unspent=fund.rollover_unspent, tranches=position.tranches,
                                 spend_by_month=position.spend_by_month, as_of=today,
                                 pool_share=_pool_share(fund), budget_by_month=budgets.get(fund.program_id, {}))
        shown = forecast.months
        if len(shown) > CHART_MONTHS:  # a longer schedule: the window around today
            first = add_months(today.replace(day=1), -(CHART_MONTHS // 2))
            shown = [row for row in shown if row.month >= first][:CHART_MONTHS]
        projection, warning = _outlook(forecast, remaining, fund.currency)
        months = [{"month": row.month, "budget": row.release, "spent": row.spent, "projected": row.projected,
                   "lapsed": row.lapsed, "remaining": row.remaining,
                   "budget_text": format_amount(row.release, fund.currency),  # the table's headers name the currency
                   "spent_text": format_amount(row.spent, fund.currency),
                   "lapsed_text": format_amount(row.lapsed, fund.currency),
                   "remaining_text": format_amount(row.remaining, fund.currency)} for row in shown]
        summaries.append(FundSummary(
            fund=fund, total=format_money(fund.total_minor, fund.currency),
            spent=format_money(position.spent, fund.currency), remaining=format_money(remaining, fund.currency),
            remaining_minor=remaining, pace=_pace_text(forecast, fund.currency), runs_out=forecast.runs_out_on,
            projection=projection, chart=_burn_down(fund, shown, forecast), months=months, forecast=forecast,
            schedule=_schedule_text(forecast, fund.currency), warning=warning,
            shows_lapses=forecast.unspent_policy == LAPSES and any(row.lapsed for row in shown),
        ))
    return summaries


def latest_closed_month() -> dt.date | None:
    """The latest month with a monthly run computed, approved or paid (runs exist only for ended months)."""
    return PayoutRun.objects.spending().aggregate(month=Max("month"))["month"]


def payouts_by_country(month: dt.date | None) -> dict:
    if month is None:
        return {"month": None, "rows": [], "chart": ""}
    rows = list(EarningLine.objects.filter(run__in=PayoutRun.objects.spending().filter(month=month))
                .values("partner__country", "run__currency")
                .annotate(gross=Sum("gross_minor"), partners=Count("partner_id", distinct=True))
                .order_by("run__currency", "-gross", "partner__country"))
    table = [{"country": row["partner__country"], "currency": row["run__currency"], "partners": row["partners"],
              "gross_minor": row["gross"] or 0, "gross": format_money(row["gross"] or 0, row["run__currency"])}
             for row in rows]
    charts = []
    for currency in sorted({row["currency"] for row in table}):
        of_currency = [row for row in table if row["currency"] == currency]
        charts.append(horizontal_bars(
            [(row["country"], float(to_major(row["gross_minor"], currency)), row["gross"]) for row in of_currency],
            title=f"Earnings by country, {month:%B %Y}, {currency}"))
    return {"month": month, "rows": table, "charts": charts}


def failed_imports() -> dict:
    jobs = ImportJob.objects.filter(status=ImportJob.Status.FAILED).select_related("created_by")
    recent = list(jobs.order_by("-created_at")[:FAILED_IMPORTS_SHOWN])
    count = len(recent) if len(recent) < FAILED_IMPORTS_SHOWN else jobs.count()
    return {"count": count, "jobs": [{"job": job, "url": _admin_url("ingestion_importjob_change", job.pk)}
                                     for job in recent]}


def dashboard(user) -> dict:
    """The parts this user may see, each computed only if shown."""
    context: dict = {}
    if user.has_perm("partnerships.view_enrolment"):
        context["applications"] = applications_waiting()
    if user.has_perm("payouts.view_payoutrun"):
        context["runs"] = runs_awaiting_approval()
    if user.has_perm("payouts.view_fund"):
        context["funds"] = fund_summaries()
    if user.has_perm("payouts.view_earningline"):
        context["countries"] = payouts_by_country(latest_closed_month())
    if user.has_perm("ingestion.view_importjob"):
        context["imports"] = failed_imports()
    return context
