"""What the admin's front page shows: the state of the work and of the money, at a glance.

Reads only, in a fixed handful of aggregate queries whatever the number of programs, funds or lines:
applications waiting per program, runs waiting for approval, each fund's budget and spend per month with
the month it runs out at the current pace, payouts by country for the latest closed month, failed imports.
Each part is shown only to users who may see the objects behind it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.db.models import Count, Max, Prefetch, Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core.money import format_money, to_major
from core.periods import next_month
from ingestion.models import ImportJob
from partnerships.models import Enrolment
from payouts.charts import bar_chart, horizontal_bars
from payouts.funds import FundPosition
from payouts.models import BudgetTranche, EarningLine, Fund, PayoutRun

PACE_MONTHS = 3  # the projection's pace: average spend of the fund's last three monthly runs
CHART_MONTHS = 36  # the longest stretch of a fund's schedule drawn (a three-year fund fits)
FAILED_IMPORTS_SHOWN = 10


@dataclass
class FundSummary:
    fund: Fund
    total: str
    spent: str
    remaining: str
    remaining_minor: int
    pace: str | None
    runs_out: dt.date | None
    projection: str
    chart: str
    months: list[dict] = field(default_factory=list)


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


def _projection(remaining: int, recent: list[int], last_month: dt.date | None, currency: str):
    """Remaining ÷ average monthly spend of the last runs: the month whose run can no longer be paid in full."""
    if remaining <= 0:
        return None, None, "The fund is spent."
    if not recent or last_month is None or sum(recent) <= 0:
        return None, None, "No monthly run has spent from it yet: no pace to project."
    pace = sum(recent) // len(recent)
    months_left = math.ceil(remaining / pace) if pace else 0
    runs_out = last_month
    for _ in range(months_left):
        runs_out = next_month(runs_out)
    pace_text = format_money(pace, currency)
    runs = f"the last {len(recent)} run{'s' if len(recent) > 1 else ''}"
    return pace_text, runs_out, f"At {pace_text} a month ({runs}), it runs out in {runs_out:%B %Y}."


def fund_summaries(today: dt.date | None = None) -> list[FundSummary]:
    today = today or timezone.localdate()
    funds = list(Fund.objects.select_related("program").order_by("name")
                 .prefetch_related(Prefetch("tranches", queryset=BudgetTranche.objects.order_by("starts_on"))))
    summaries = []
    for position in FundPosition.of_funds(funds):
        fund = position.fund
        spent_months = sorted(position.spend_by_month)
        remaining = position.remaining
        recent = [position.spend_by_month[month] for month in spent_months[-PACE_MONTHS:]]
        pace, runs_out, projection = _projection(remaining, recent, spent_months[-1] if spent_months else None,
                                                 fund.currency)
        rows = position.months()
        if len(rows) > CHART_MONTHS:  # a longer schedule: the window around today
            first = (today.replace(day=1) - dt.timedelta(days=31 * (CHART_MONTHS // 2))).replace(day=1)
            rows = [row for row in rows if row.month >= first][:CHART_MONTHS]
        months = [{"month": row.month, "budget": row.release, "spent": row.spent} for row in rows]
        chart = bar_chart(
            labels=[f"{row.month:%b %y}" for row in rows],
            series=[("Budget released", "#9ec5e8", [float(to_major(row.release, fund.currency)) for row in rows]),
                    ("Spent by runs", "#1f5f99", [float(to_major(row.spent, fund.currency)) for row in rows])],
            unit=fund.currency, title=f"{fund.name}: budget and spend per month",
            marker=next((i for i, row in enumerate(rows) if row.month == runs_out), None),
        ) if rows else ""
        summaries.append(FundSummary(
            fund=fund, total=format_money(fund.total_minor, fund.currency),
            spent=format_money(position.spent, fund.currency), remaining=format_money(remaining, fund.currency),
            remaining_minor=remaining, pace=pace, runs_out=runs_out, projection=projection, chart=chart,
            months=months,
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
