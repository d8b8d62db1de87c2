"""Grants: each member receives the fixed monthly amount, in order of approval, while the month's budget lasts;
the member who exhausts it receives what is left. A grant never overdraws. A member whose membership is suspended
on the month's last day receives no grant for that month (one reinstated before then does)."""

from __future__ import annotations

from payouts.formulas.context import LIVE_DAY, RunContext
from payouts.formulas.tables import ENROLMENT_TABLE, LIVE_MEMBERSHIP


def earned(ctx: RunContext) -> tuple[str, dict]:
    sql = f"""
        grantees AS (
            SELECT e.partner_id, ROW_NUMBER() OVER (ORDER BY e.approved_at, e.id) AS position
            FROM {ENROLMENT_TABLE} e
            WHERE e.program_id = %(program)s AND e.status IN ({LIVE_MEMBERSHIP}) AND e.approved_at < %(cutoff)s
              AND {LIVE_DAY.format(day="%(end)s")}),
        earned AS (
            SELECT g.partner_id, 'grant' AS basis, %(amount)s AS basis_value, 0 AS basis_total, 0 AS weight,
                   CASE WHEN cp_mul(g.position, %(amount)s) <= %(budget)s THEN %(amount)s
                        WHEN cp_mul(g.position - 1, %(amount)s) < %(budget)s
                            THEN %(budget)s - cp_mul(g.position - 1, %(amount)s)
                        ELSE 0 END AS gross,
                   FALSE AS capped, 0 AS rounding, 0 AS remainder,
                   CASE WHEN cp_mul(g.position, %(amount)s) <= %(budget)s THEN ''
                        WHEN cp_mul(g.position - 1, %(amount)s) < %(budget)s THEN 'fund exhausted: partial grant'
                        ELSE 'fund exhausted: no grant this month' END AS note
            FROM grantees g)"""
    return sql, {"amount": ctx.terms.grant_monthly_minor, "budget": max(ctx.budget_minor, 0)}
