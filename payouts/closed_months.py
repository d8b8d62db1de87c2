"""Closed months: the one definition of "closed", and what happens when a month's inputs change.

**Closed.** A month is closed for a program when the program has a monthly (kind "final") run for it that is
approved or paid. A row of an input — daily metrics, ad revenue, video daily views — for a day of that month is
refused when its partner is, or has been, a member of such a program whose runs read that input:

| input | read by the runs of (payouts/formulas) |
|---|---|
| daily metrics (partnerships_dailymetric) | pooled fund |
| ad revenue (payouts_adrevenue) | revenue share, in the program's currency only |
| video daily views (payouts_videodailyviews) | rate per 1,000 views |

Grants read no input; brand deals have no monthly runs. "Is, or has been, a member": an enrolment that was ever
approved — status approved, suspended or ended, or any status with an approval date (approved then withdrawn) —
because a suspended or former member may have been paid for that month, and the month's figures are what the
approved run paid on. It errs on the side of refusing: a late correction for a closed month is recorded as an
adjustment for a later run (DESIGN, "a closed month does not silently change"). The refusal names the month, the
program and the run (MONTH_CLOSED).

``closed_periods_sql`` is that definition, as one SQL relation; every path reads it through the period guard that
``register`` hands to ingestion (ingestion.guards): bulk ingestion (one set-based statement over the
staging table), the admin's spreadsheet import and the admin's forms (one query for the file's partners and
months). Nothing else in the code decides whether a month is closed.

**Stale.** After metrics, video views or ad revenue load for a month (any path, once committed), the computed but
not yet approved monthly runs of that month become stale (payouts.closing.payout_runs_mark_stale), with a reason
saying what changed — but only runs of programs that read that input and have a loaded partner among their
(ever approved) members for that month. Only rows that changed count: loading the same file again marks nothing.
A load too big to list its partners (more than engine.PARTNER_LIST_LIMIT changed rows) marks every such run of
the months it spans.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.db import connection

from core.sql import pair_relations
from ingestion import guards
from partnerships.models import Enrolment, Program
from payouts.closing import payout_runs_mark_stale
from payouts.exceptions import MONTH_CLOSED
from payouts.formulas.tables import COMPUTED, ENROLMENT_TABLE, FINAL, PROGRAM_TABLE, RUN_TABLE, quoted
from payouts.models import AdRevenue, PayoutRun

ARCHETYPES_READING = {
    guards.DAILY_METRICS: (Program.Archetype.POOLED_FUND,),
    guards.AD_REVENUE: (Program.Archetype.REVENUE_SHARE,),
    guards.VIDEO_VIEWS: (Program.Archetype.RATE_PER_MILLE,),
}
EVER_APPROVED = (Enrolment.Status.APPROVED, Enrolment.Status.SUSPENDED, Enrolment.Status.ENDED)
CLOSING_STATUSES = (PayoutRun.Status.APPROVED, PayoutRun.Status.PAID)
STALE_REASON = "{input} for {partners} {verb} on {day:%Y-%m-%d} by {source}"


def _members(run_alias: str = "r") -> str:
    """Enrolments (alias e) that make a partner concerned by a run of their program: ever approved."""
    return (f"JOIN {ENROLMENT_TABLE} e ON e.program_id = {run_alias}.program_id "
            f"AND (e.status IN ({quoted(*EVER_APPROVED)}) OR e.approved_at IS NOT NULL)")


def closed_periods_sql(input: str) -> str | None:  # noqa: A002 (the domain's word)
    """THE definition of a closed month, as SQL: one row (partner_id, month, currency, detail) per partner, month
    and program currency that an approved or paid monthly run has closed for runs reading ``input``."""
    archetypes = ARCHETYPES_READING.get(input)
    if not archetypes:
        return None
    return (
        f"SELECT e.partner_id AS partner_id, r.month AS month, g.currency AS currency, "
        f"CAST(r.id AS text) || '|' || r.status || '|' || g.name AS detail "
        f"FROM {RUN_TABLE} r JOIN {PROGRAM_TABLE} g ON g.id = r.program_id AND g.archetype IN ({quoted(*archetypes)}) "
        f"{_members()} "
        f"WHERE r.kind = {FINAL} AND r.status IN ({quoted(*CLOSING_STATUSES)})"
    )


def month_closed_refusal(month: dt.date, detail: str) -> str:
    run, status, program = detail.split("|", 2)
    return MONTH_CLOSED.format(month=month, program=program, run=run, status=status)


def payout_runs_concerned(loaded: guards.LoadedInputs) -> list[tuple[int, dt.date, int | None]]:
    """(program id, month, loaded partners who are its members) of the computed, not yet approved, not yet stale
    monthly runs that read the loaded input and have a loaded partner among their members that month: one
    statement (PostgreSQL; on SQLite one per 2,000 pairs). Partners are None for a load too big to list them."""
    archetypes = ARCHETYPES_READING.get(loaded.input)
    if not archetypes:
        return []
    runs = f"{RUN_TABLE} r JOIN {PROGRAM_TABLE} g ON g.id = r.program_id AND g.archetype IN ({quoted(*archetypes)})"
    open_runs = (f"r.kind = {FINAL} AND r.status = {COMPUTED} "
                 f"AND r.stale_reason = ''")
    with connection.cursor() as cursor:
        if loaded.partner_months is None:
            months = sorted(loaded.months)
            cursor.execute(f"SELECT r.program_id, r.month FROM {runs} WHERE {open_runs} "
                           f"AND r.month IN ({', '.join(['%s'] * len(months))}) ORDER BY 1, 2", months)
            return [(program_id, guards.as_date(month), None) for program_id, month in cursor.fetchall()]
        pairs = sorted(loaded.partner_months)
        # The loaded pairs as relations: PostgreSQL takes two arrays, SQLite the pairs in chunks.
        counts: dict[tuple[int, dt.date], int] = {}
        for loaded_pairs, params in pair_relations(pairs, "l", ("column1", "column2")):
            cursor.execute(
                f"SELECT r.program_id, r.month, COUNT(DISTINCT e.partner_id) FROM {runs} {_members()} "
                f"JOIN {loaded_pairs} ON l.column1 = e.partner_id AND l.column2 = r.month "
                f"WHERE {open_runs} GROUP BY r.program_id, r.month", params)
            for program_id, month, partners in cursor.fetchall():
                key = (program_id, guards.as_date(month))
                # A partner is in one pair per month, so the chunks' partners never overlap.
                counts[key] = counts.get(key, 0) + partners
    return [(program_id, month, partners) for (program_id, month), partners in sorted(counts.items())]


def payout_runs_mark_stale_after_load(loaded: guards.LoadedInputs) -> int:
    """After a load commits: the runs it concerns become stale, each with what changed. Returns how many."""
    marked = 0
    for program_id, month, partners in payout_runs_concerned(loaded):
        who = f"{partners} partner{'s' if partners != 1 else ''}" if partners is not None else (
            f"{loaded.rows:,} rows (too many partners to list)")
        reason = STALE_REASON.format(input=loaded.label, partners=who, verb=loaded.verb, day=loaded.loaded_on,
                                     source=loaded.source)
        marked += payout_runs_mark_stale(reason=reason, program_id=program_id, month=month)
    return marked


def _after_load(loaded: guards.LoadedInputs) -> None:
    """The guard's hook after a load: it wants no result (how many runs were marked is for the tests)."""
    payout_runs_mark_stale_after_load(loaded)


GUARD = guards.PeriodGuard(
    name="payouts.closed_months",
    closed_periods_sql=closed_periods_sql,
    refusal=month_closed_refusal,
    loaded=_after_load,
)


def register() -> None:
    """From PayoutsConfig.ready: partnerships' inputs refuse closed months and mark runs stale."""
    guards.register_period_guard(GUARD)


class AdRevenueAdminForm(guards.ClosedPeriodFormMixin, forms.ModelForm):
    """The admin's add and change form of ad revenue: a row of a month closed for the partner's revenue-share program
    in that currency is not edited, nor moved into or out of one (by its day or its currency)."""

    period_input = guards.AD_REVENUE

    class Meta:
        model = AdRevenue
        fields = ["partner", "day", "currency", "amount_minor"]
