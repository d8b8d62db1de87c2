"""Grants: each approved member receives the fixed monthly amount, in order of approval, while the
month's budget lasts; the member who exhausts it receives what is left. A grant never overdraws."""

from __future__ import annotations

from payouts.formulas.context import RunContext, insert_lines_sql
from payouts.sql import execute


def compute(ctx: RunContext) -> None:
    params = ctx.params(amount=ctx.terms.grant_monthly_minor, budget=max(ctx.budget_minor, 0))
    execute(insert_lines_sql("""
        SELECT g.partner_id, 'grant' AS basis, %(amount)s AS basis_value, 0 AS weight,
               CASE WHEN g.position * %(amount)s <= %(budget)s THEN %(amount)s
                    WHEN (g.position - 1) * %(amount)s < %(budget)s THEN %(budget)s - (g.position - 1) * %(amount)s
                    ELSE 0 END AS gross_minor,
               FALSE AS capped,
               CASE WHEN g.position * %(amount)s <= %(budget)s THEN ''
                    WHEN (g.position - 1) * %(amount)s < %(budget)s THEN 'fund exhausted: partial grant'
                    ELSE 'fund exhausted: no grant this month' END AS note
        FROM (
            SELECT e.partner_id, ROW_NUMBER() OVER (ORDER BY e.approved_at, e.id) AS position
            FROM partnerships_enrolment e
            WHERE e.program_id = %(program)s AND e.status = 'approved' AND e.approved_at < %(cutoff)s
        ) g
    """), params)
