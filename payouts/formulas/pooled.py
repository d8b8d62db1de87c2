"""F1 pooled fund: the month's budget shared by qualified views, capped per partner by water-filling."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from django.db import connection

from core.sql import date_param, materialise
from payouts.formulas.context import LIVE_DAY, MONTH_FIGURES, RunContext
from payouts.formulas.split import split_ctes
from payouts.formulas.tables import DAILY_METRIC_TABLE, ROLLUP_TABLE, SUSPENSION_TABLE
from payouts.models import ProgramTerms

MEMBERS_TABLE = "cp_pooled_members"


def _scaled(amount: int, share: Decimal) -> int:
    return int((Decimal(amount) * share).to_integral_value(rounding=ROUND_FLOOR))


# The memberships suspended on at least one day from %(start)s to %(end)s (what LIVE_DAY leaves out).
SUSPENDED_ENROLMENTS = f"""SELECT s.enrolment_id FROM {SUSPENSION_TABLE} s WHERE s.starts_on <= %(end)s
    AND (s.ends_on IS NULL OR (s.ends_on > %(start)s AND s.ends_on > s.starts_on))"""
SUSPENDED_IN_MONTH = f"e.id IN ({SUSPENDED_ENROLMENTS})"
# Its negation as NOT IN (enrolment_id is never NULL): one hashed list of the month's suspensions, probed per member.
# As NOT EXISTS, PostgreSQL planned a nested loop rescanning the suspensions once per member (0.4 s of a million
# members when the table is empty, bench/payouts.py).
NOT_SUSPENDED_IN_MONTH = f"e.id NOT IN ({SUSPENDED_ENROLMENTS})"
# The month read from its rollups (issue 18). False reads the daily rows as before: for the benchmark's and the
# tests' comparison of the two, which must give identical lines.
READ_ROLLUPS = True
QUALIFIED = "HAVING SUM(m.qualified_views) >= %(min_views)s AND SUM(m.qualified_views) > 0"


# A partner with daily rows after the last day an estimate reads (up to the month's end: the pipeline may send
# tomorrow's figures): the month's rollup holds them, so the estimate reads that partner's daily rows.
ROWS_AFTER_END = f"""
    EXISTS (SELECT 1 FROM {DAILY_METRIC_TABLE} a WHERE a.partner_id = {{alias}}.partner_id
            AND a.day > %(end)s AND a.day <= %(month_end)s)
"""


def members_sql(ctx: RunContext) -> str:
    """The members' qualified views (w) and screening's MONTH_FIGURES, one row per member with enough views.
    Parameters: ctx.params(), min_views and month_end (the run's month's last day)."""
    daily = f"""
        SELECT m.partner_id, CAST(SUM(m.qualified_views) AS bigint) AS w, {MONTH_FIGURES}
        FROM {DAILY_METRIC_TABLE} m {ctx.members_join("m")}
        WHERE m.day >= %(start)s AND m.day <= %(end)s AND {LIVE_DAY.format(day="m.day")}"""
    if not READ_ROLLUPS or ctx.start != ctx.run.month or ctx.end > ctx.run.month_end:
        return f"{daily} GROUP BY m.partner_id {QUALIFIED}"

    def from_daily(alias: str) -> str:
        if ctx.end < ctx.run.month_end:
            return f"({SUSPENDED_IN_MONTH} OR {ROWS_AFTER_END.format(alias=alias)})"
        return SUSPENDED_IN_MONTH

    rolled_only_when = NOT_SUSPENDED_IN_MONTH
    if ctx.end < ctx.run.month_end:
        rolled_only_when += f" AND NOT {ROWS_AFTER_END.format(alias='m')}"
    # MONTH_FIGURES over the rollup's one row per partner: the sums, the peak and the count of days are stored.
    # A month-to-date estimate reads them too, for every member without rows after the day it reads up to.
    rolled = f"""
        SELECT m.partner_id, m.qualified_views AS w, m.views AS views, m.likes + m.comments + m.shares AS engaged,
               m.peak_qualified_views AS peak, m.days AS days
        FROM {ROLLUP_TABLE} m {ctx.members_join("m")}
        WHERE m.month = %(start)s AND {rolled_only_when}
          AND m.qualified_views >= %(min_views)s AND m.qualified_views > 0"""
    if connection.vendor != "postgresql":  # SQLite has no LATERAL: the month's daily rows, each tested
        return f"{rolled}\n UNION ALL {daily} AND {from_daily('m')} GROUP BY m.partner_id {QUALIFIED}"
    # The others (every partner with rows in the month has its rollup row) read their own days by the daily table's
    # (partner, day) index, one partner at a time (LATERAL): a condition in OR over the month's daily rows made
    # PostgreSQL test it on each of them, an estimate's whole month of rows (2.5 s of 4 at 200,000 partners).
    daily_members = f"""
        SELECT r.partner_id, d.w, d.views, d.engaged, d.peak, d.days
        FROM {ROLLUP_TABLE} r {ctx.members_join("r")}
        CROSS JOIN LATERAL (
            SELECT CAST(SUM(m.qualified_views) AS bigint) AS w, {MONTH_FIGURES}
            FROM {DAILY_METRIC_TABLE} m
            WHERE m.partner_id = r.partner_id AND m.day >= %(start)s AND m.day <= %(end)s
              AND {LIVE_DAY.format(day="m.day")}) AS d
        WHERE r.month = %(start)s AND {from_daily("r")} AND d.w >= %(min_views)s AND d.w > 0"""
    return f"{rolled}\n UNION ALL {daily_members}"


def earned(ctx: RunContext) -> tuple[str, dict]:
    """Members with at least ``min_views`` qualified views in the month; the pool (budget × pool share,
    floored to a cent) is split exactly. The cap applies to the paid amount (cap × pool share)."""
    share = Decimal(ctx.terms.pool_share)
    cap = ctx.terms.partner_cap_minor
    split, split_params = split_ctes(
        budget=_scaled(ctx.budget_minor, share), cap=None if cap is None else _scaled(cap, share),
        retain_excess=ctx.terms.excess_policy == ProgramTerms.ExcessPolicy.RETAIN)
    # The members' views, aggregated first into a temporary table, which also holds the figures screening reads
    # (payouts.screening). A whole month, or a month-to-date estimate, reads its monthly rollups (one row per
    # partner, issue 18); a member suspended on some day of the month, or (an estimate) with rows after its last
    # day, reads the daily rows, where each day is counted or not. PostgreSQL can run the aggregation on parallel
    # workers in a CREATE TABLE ... AS but never inside the INSERT that writes the lines.
    params = {**ctx.params(), "min_views": ctx.terms.min_views, "month_end": date_param(ctx.run.month_end)}
    ctx.temporary.append(materialise(MEMBERS_TABLE, members_sql(ctx), params))
    sql = f"""
        src AS (SELECT partner_id, w FROM {MEMBERS_TABLE}),
        {split},
        earned AS (
            SELECT a.partner_id, 'views' AS basis, a.w AS basis_value, t.w_all AS basis_total, a.w AS weight,
                   a.gross, a.capped, a.rounding, a.remainder, '' AS note
            FROM allocated a CROSS JOIN split_tot t)"""
    return sql, split_params
