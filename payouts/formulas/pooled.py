"""F1 pooled fund: the month's budget shared by qualified views, capped per partner by water-filling."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from core.sql import materialise
from payouts.formulas.context import LIVE_DAY, MONTH_FIGURES, RunContext
from payouts.formulas.split import split_ctes
from payouts.formulas.tables import DAILY_METRIC_TABLE
from payouts.models import ProgramTerms

MEMBERS_TABLE = "cp_pooled_members"


def _scaled(amount: int, share: Decimal) -> int:
    return int((Decimal(amount) * share).to_integral_value(rounding=ROUND_FLOOR))


def earned(ctx: RunContext) -> tuple[str, dict]:
    """Members with at least ``min_views`` qualified views in the month; the pool (budget × pool share,
    floored to a cent) is split exactly. The cap applies to the paid amount (cap × pool share)."""
    share = Decimal(ctx.terms.pool_share)
    cap = ctx.terms.partner_cap_minor
    split, split_params = split_ctes(
        budget=_scaled(ctx.budget_minor, share), cap=None if cap is None else _scaled(cap, share),
        retain_excess=ctx.terms.excess_policy == ProgramTerms.ExcessPolicy.RETAIN)
    # The members' views, aggregated first into a temporary table: the heaviest step of the month (every daily
    # metric row of the month), which PostgreSQL can run on parallel workers in a CREATE TABLE ... AS but never
    # inside the INSERT that writes the lines. The same scan gathers the figures screening reads (payouts.screening).
    params = {**ctx.params(), "min_views": ctx.terms.min_views}
    ctx.temporary.append(materialise(MEMBERS_TABLE, f"""
        SELECT m.partner_id, SUM(m.qualified_views) AS w, {MONTH_FIGURES}
        FROM {DAILY_METRIC_TABLE} m {ctx.members_join("m")}
        WHERE m.day >= %(start)s AND m.day <= %(end)s AND {LIVE_DAY.format(day="m.day")}
        GROUP BY m.partner_id
        HAVING SUM(m.qualified_views) >= %(min_views)s AND SUM(m.qualified_views) > 0""", params))
    sql = f"""
        src AS (SELECT partner_id, w FROM {MEMBERS_TABLE}),
        {split},
        earned AS (
            SELECT a.partner_id, 'views' AS basis, a.w AS basis_value, t.w_all AS basis_total, a.w AS weight,
                   a.gross, a.capped, a.rounding, a.remainder, '' AS note
            FROM allocated a CROSS JOIN split_tot t)"""
    return sql, split_params
