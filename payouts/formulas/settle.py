"""Settlement, common to every archetype, in the same INSERT as the archetype's ``earned`` CTE:
adjustments, the carried-in balance, withholding, holds and the minimum payout. One statement writes a
run's lines, so a month is a handful of statements whatever the number of partners."""

from __future__ import annotations

from django.db import connection

from core.sql import execute
from payouts.formulas.context import LINE_COLUMNS, RunContext
from payouts.formulas.tables import (
    ADJUSTMENT_APPROVED,
    ADJUSTMENT_TABLE,
    CARRIED_OVER,
    COMPUTED,
    FINAL,
    HELD,
    LINE_TABLE,
    PARTNER_ACTIVE,
    PARTNER_TABLE,
    PAYABLE,
    RUN_TABLE,
)
from payouts.formulas.tax import PPM, TAX_JOINS, TAX_SOURCE, rate_ppm_sql, tax_hold_sql, tax_params
from payouts.ledger import PARTNER_BALANCES
from payouts.models import LedgerAccount, ProgramTerms

# What the program's other computed (not yet approved) monthly runs carry in, per partner: not carried again.
CARRIED_BY_OTHER_RUNS = f"""SELECT ol.partner_id, SUM(ol.carried_in_minor) AS amount
    FROM {LINE_TABLE} ol JOIN {RUN_TABLE} orun ON orun.id = ol.run_id
    WHERE orun.program_id = %(program)s AND orun.kind = {FINAL} AND orun.status = {COMPUTED} AND orun.id <> %(run)s
      AND ol.carried_in_minor <> 0
    GROUP BY ol.partner_id"""


def hold_reason_sql(terms: ProgramTerms, *, source: str) -> str:
    """SQL over the partner ``p`` and the line's withholding ``source`` (payouts.formulas.tax): why a line is held
    ('' when it is not), from the program's hold rules."""
    holds = tax_hold_sql(terms, source)
    if terms.hold_without_identity:
        holds.append("CASE WHEN NOT p.identity_verified THEN 'identity not verified; ' ELSE '' END")
    if terms.hold_when_suspended:
        holds.append(f"CASE WHEN p.status <> {PARTNER_ACTIVE} THEN 'partner ' || p.status || '; ' ELSE '' END")
    return f"RTRIM({' || '.join(holds)}, '; ')" if holds else "''"


# Below this a line's amount × rate in millionths fits a bigint (92 billion in major units of a two-decimal currency).
BIGINT_PRODUCT_LIMIT = (2**63 - 1) // PPM


def withholding_sql() -> str:
    """SQL: the tax withheld from a line's positive gross + adjustments at its rate, rounded half to even, exactly.

    On PostgreSQL in plain arithmetic: cp_muldiv_half_even is an SQL function PostgreSQL cannot inline (it uses its
    argument several times), and calling it costs about 0.1 ms a line, which is seconds a month once most lines are
    withheld; numeric arithmetic still costs some 25 µs a line, so an amount whose product with the rate fits a
    bigint (any real one) is computed in bigint, and only a larger one in numeric (storing a result past bigint
    then fails loudly). On SQLite the registered Python function (exact, refusing past 64 bits)."""
    amount = "(l.gross + l.adjustments)"
    if connection.vendor != "postgresql":
        rounded = f"cp_muldiv_half_even({amount}, l.rate_ppm, {PPM})"
    else:
        small = _half_even(f"(CAST({amount} AS bigint) * l.rate_ppm)", divide="({n} / {d})", modulo="mod({n}, {d})")
        large = _half_even(f"(CAST({amount} AS numeric) * l.rate_ppm)", divide="div({n}, {d})", modulo="mod({n}, {d})")
        rounded = f"CASE WHEN {amount} <= {BIGINT_PRODUCT_LIMIT} THEN {small} ELSE CAST({large} AS bigint) END"
    return f"CASE WHEN {amount} > 0 AND l.rate_ppm > 0 THEN {rounded} ELSE 0 END"


def _half_even(product: str, *, divide: str, modulo: str) -> str:
    """SQL: a positive ``product`` / 10**6 rounded half to even, with the given integer division and modulo."""
    quotient, remainder = divide.format(n=product, d=PPM), modulo.format(n=product, d=PPM)
    parity = modulo.format(n=quotient, d=2)
    return (f"({quotient} + CASE WHEN 2 * {remainder} > {PPM} OR (2 * {remainder} = {PPM} AND {parity} = 1) "
            "THEN 1 ELSE 0 END)")


def write_lines(ctx: RunContext, earned_sql: str, earned_params: dict, *, final: bool, into: str = LINE_TABLE) -> None:
    """Insert every line of the run: the archetype's earners, plus partners with adjustments or an unpaid
    balance (so a correction is applied, and a released hold or a balance that reached the minimum gets paid,
    even without new earnings).

    A monthly run applies the adjustments ``_apply_adjustments`` gave it; an estimate shows the approved ones
    still waiting. The balance carried in is the partner's *payable* balance in the ledger less what other
    computed (not yet approved) monthly runs of the program already carry in: the same cent is never carried
    by two runs, so it can reach only one payment file.

    ``into``: the table the lines go to; a what-if run (payouts.services.what_if) writes the same lines into a
    temporary table of the same columns instead of the run's."""
    params = ctx.params(payable_kind=LedgerAccount.Kind.PARTNER_PAYABLE, minimum=ctx.terms.min_payout_minor,
                        **tax_params(ctx.terms, ctx.run), **earned_params)
    adjustments = ("applied_run_id = %(run)s" if final
                   else f"applied_run_id IS NULL AND status = {ADJUSTMENT_APPROVED} AND program_id = %(program)s")
    execute(f"""
        WITH {earned_sql},
        pending AS (
            SELECT partner_id, SUM(amount_minor) AS amount FROM {ADJUSTMENT_TABLE}
            WHERE {adjustments} GROUP BY partner_id),
        balance AS (
            SELECT partner_id, SUM(amount) AS amount FROM (
                SELECT partner_id, amount FROM ({PARTNER_BALANCES.format(kind="payable_kind")}) owed
                UNION ALL
                SELECT partner_id, -amount FROM ({CARRIED_BY_OTHER_RUNS}) carried) b
            GROUP BY partner_id HAVING SUM(amount) <> 0),
        -- The sums of adjustments and balances as bigint (what the line stores; a larger one fails loudly here, as
        -- it would when stored): the line's arithmetic below then runs in bigint, not numeric, for a million lines.
        line AS (
            SELECT COALESCE(e.partner_id, o.partner_id) AS partner_id, COALESCE(e.basis, 'none') AS basis,
                   COALESCE(e.basis_value, 0) AS basis_value, COALESCE(e.basis_total, 0) AS basis_total,
                   COALESCE(e.weight, 0) AS weight, COALESCE(e.gross, 0) AS gross,
                   COALESCE(e.capped, FALSE) AS capped, COALESCE(e.rounding, 0) AS rounding,
                   COALESCE(e.remainder, 0) AS remainder, COALESCE(e.note, '') AS note,
                   COALESCE(CAST(a.amount AS bigint), 0) AS adjustments,
                   COALESCE(CAST(b.amount AS bigint), 0) AS carried_in
            FROM earned e
            FULL JOIN (SELECT partner_id FROM pending UNION SELECT partner_id FROM balance) o
                 ON o.partner_id = e.partner_id
            LEFT JOIN pending a ON a.partner_id = COALESCE(e.partner_id, o.partner_id)
            LEFT JOIN balance b ON b.partner_id = COALESCE(e.partner_id, o.partner_id)),
        taxed AS (
            SELECT l.*, {TAX_SOURCE} AS tax_source, COALESCE(tp.residence_country, '') AS tax_country,
                   tr.rate AS treaty_rate
            FROM line l {TAX_JOINS.format(line="l")}),
        rated AS MATERIALIZED (
            SELECT t.*, {rate_ppm_sql("t.tax_source", "t.treaty_rate")} AS rate_ppm FROM taxed t),
        withheld AS (
            SELECT l.*, {withholding_sql()} AS withholding,
                   {hold_reason_sql(ctx.terms, source="l.tax_source")} AS hold_reason
            FROM rated l JOIN {PARTNER_TABLE} p ON p.id = l.partner_id),
        settled AS (
            SELECT w.*, w.carried_in + w.gross + w.adjustments - w.withholding AS net FROM withheld w)
        INSERT INTO {into} ({LINE_COLUMNS})
        SELECT %(run)s, partner_id, basis, basis_value, basis_total, weight, gross, capped, rounding, remainder,
               adjustments, carried_in, withholding, rate_ppm, tax_source, %(income_type)s, tax_country, net,
               CASE WHEN hold_reason <> '' THEN {HELD}
                    WHEN net <= 0 OR net < %(minimum)s THEN {CARRIED_OVER}
                    ELSE {PAYABLE} END,
               hold_reason, note
        FROM settled
        -- key order: the unique (partner, run) index is then filled page by page, not at random
        ORDER BY partner_id
    """, params)
