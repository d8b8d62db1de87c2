"""Settlement, common to every archetype: adjustments, the carried-in balance, withholding, holds and the
minimum payout. Runs after the archetype has written each line's gross amount."""

from __future__ import annotations

from payouts.formulas.context import LINE_COLUMNS, LINE_TABLE, RunContext
from payouts.formulas.revenue_share import PPM
from payouts.models import LedgerAccount
from payouts.sql import execute

EMPTY_LINE = "'none', 0, 0, 0, 0, FALSE, 0, 0, 0, 0, 0, 0, 'payable', '', ''"
PAYABLE_BALANCE = """
    (SELECT COALESCE(SUM(le.amount_minor), 0) FROM payouts_ledgerentry le
     JOIN payouts_ledgeraccount la ON la.id = le.account_id
     WHERE la.kind = %(payable_kind)s AND la.currency = %(currency)s AND la.program_id = %(program)s
       AND la.partner_id = {alias}.partner_id)
"""
PENDING_ADJUSTMENTS = """
    FROM payouts_adjustment adj WHERE adj.program_id = %(program)s AND adj.applied_run_id IS NULL
"""


def settle(ctx: RunContext, *, apply_adjustments: bool) -> None:
    terms = ctx.terms
    params = ctx.params(payable_kind=LedgerAccount.Kind.PARTNER_PAYABLE,
                        withholding_ppm=int(terms.withholding_rate * PPM), minimum=terms.min_payout_minor)
    # Partners with pending corrections or an unpaid balance get a line even without new earnings, so a
    # correction is applied and a released hold or a balance that reached the minimum gets paid.
    execute(f"""
        INSERT INTO {LINE_TABLE} ({LINE_COLUMNS})
        SELECT %(run)s, owed.partner_id, {EMPTY_LINE}
        FROM (
            SELECT adj.partner_id {PENDING_ADJUSTMENTS}
            UNION
            SELECT la.partner_id FROM payouts_ledgeraccount la
            WHERE la.kind = %(payable_kind)s AND la.currency = %(currency)s AND la.program_id = %(program)s
              AND {PAYABLE_BALANCE.format(alias="la")} <> 0
        ) owed
        WHERE NOT EXISTS (SELECT 1 FROM {LINE_TABLE} l WHERE l.run_id = %(run)s AND l.partner_id = owed.partner_id)
    """, params)
    execute(f"""
        UPDATE {LINE_TABLE} SET adjustments_minor = (
            SELECT COALESCE(SUM(adj.amount_minor), 0) {PENDING_ADJUSTMENTS} AND adj.partner_id = {LINE_TABLE}.partner_id
        ), carried_in_minor = {PAYABLE_BALANCE.format(alias=LINE_TABLE)}
        WHERE run_id = %(run)s
    """, params)
    if apply_adjustments:
        execute("UPDATE payouts_adjustment SET applied_run_id = %(run)s "
                "WHERE program_id = %(program)s AND applied_run_id IS NULL", params)
    execute(f"""
        UPDATE {LINE_TABLE} SET withholding_minor = CASE WHEN gross_minor + adjustments_minor > 0
            THEN cp_div_half_even((gross_minor + adjustments_minor) * %(withholding_ppm)s, {PPM}) ELSE 0 END
        WHERE run_id = %(run)s
    """, params)
    execute(f"""
        UPDATE {LINE_TABLE}
        SET net_minor = carried_in_minor + gross_minor + adjustments_minor - withholding_minor
        WHERE run_id = %(run)s
    """, params)
    holds = []
    if terms.hold_without_tax_form:
        holds.append("CASE WHEN NOT p.tax_form_on_file THEN 'no tax form on file; ' ELSE '' END")
    if terms.hold_without_identity:
        holds.append("CASE WHEN NOT p.identity_verified THEN 'identity not verified; ' ELSE '' END")
    if terms.hold_when_suspended:
        holds.append("CASE WHEN p.status <> 'active' THEN 'partner ' || p.status || '; ' ELSE '' END")
    reason = " || ".join(holds) or "''"
    execute(f"""
        UPDATE {LINE_TABLE} SET hold_reason = (
            SELECT RTRIM({reason}, '; ') FROM partnerships_partner p WHERE p.id = {LINE_TABLE}.partner_id
        ) WHERE run_id = %(run)s
    """, params)
    execute(f"""
        UPDATE {LINE_TABLE} SET status = CASE
                WHEN hold_reason <> '' THEN 'held'
                WHEN net_minor <= 0 OR net_minor < %(minimum)s THEN 'carried_over'
                ELSE 'payable' END
        WHERE run_id = %(run)s
    """, params)
