"""F1 pooled fund: the month's budget shared by qualified views, capped per partner by water-filling."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from payouts.formulas.context import LINE_TABLE, MEMBERS_JOIN, RunContext, insert_lines_sql
from payouts.formulas.split import split
from payouts.models import ProgramTerms
from payouts.sql import execute, fetchone


def _scaled(amount: int | None, share: Decimal) -> int | None:
    if amount is None:
        return None
    return int((Decimal(amount) * share).to_integral_value(rounding=ROUND_FLOOR))


def compute(ctx: RunContext) -> None:
    """Lines for members with at least ``min_views`` qualified views; the pool (budget × pool share,
    floored to a cent) is split exactly. The cap applies to the paid amount (cap × pool share)."""
    params = ctx.params(min_views=ctx.terms.min_views)
    execute(insert_lines_sql(f"""
        SELECT m.partner_id, 'views' AS basis, SUM(m.qualified_views) AS basis_value,
               SUM(m.qualified_views) AS weight, 0 AS gross_minor, FALSE AS capped, '' AS note
        FROM partnerships_dailymetric m {MEMBERS_JOIN.format(alias="m")}
        WHERE m.day >= %(start)s AND m.day <= %(end)s
        GROUP BY m.partner_id
        HAVING SUM(m.qualified_views) >= %(min_views)s AND SUM(m.qualified_views) > 0
    """), params)
    total_views = int(fetchone(f"SELECT COALESCE(SUM(weight), 0) FROM {LINE_TABLE} WHERE run_id = %(run)s",
                               params)[0])
    execute(f"UPDATE {LINE_TABLE} SET basis_total = %(total)s WHERE run_id = %(run)s",
            {"run": ctx.run.pk, "total": total_views})
    share = Decimal(ctx.terms.pool_share)
    split(
        run_id=ctx.run.pk,
        budget=_scaled(ctx.budget_minor, share),
        cap=_scaled(ctx.terms.partner_cap_minor, share),
        retain_excess=ctx.terms.excess_policy == ProgramTerms.ExcessPolicy.RETAIN,
    )
