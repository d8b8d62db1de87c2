"""F2 revenue share: a rate (or year-to-date tiers) of the month's net attributed ad revenue, rounded
half-even once per line."""

from __future__ import annotations

from decimal import Decimal

from core.sql import date_param
from payouts.formulas.context import LIVE_DAY, RunContext
from payouts.formulas.tables import AD_REVENUE_TABLE

PPM = 1_000_000  # rates have six decimals: rate × 10**6 is a whole number


def _clamp(expression: str, low: int, high: int | None) -> str:
    if high is None:
        return f"(CASE WHEN {expression} < {low} THEN {low} ELSE {expression} END)"
    return f"(CASE WHEN {expression} < {low} THEN {low} WHEN {expression} > {high} THEN {high} ELSE {expression} END)"


def tiered_numerator(tiers: list[tuple[int | None, Decimal]]) -> str:
    """SQL for Σ over tiers of (the month's revenue falling in the tier) × rate × 10**6, from r.ytd (revenue
    before the month) and r.month_total. With one open tier it is simply month_total × rate."""
    parts, low = [], 0
    for high, rate in tiers:
        rate_ppm = int(rate * PPM)
        portion = f"({_clamp('(r.ytd + r.month_total)', low, high)} - {_clamp('r.ytd', low, high)})"
        parts.append(f"cp_mul({portion}, {rate_ppm})")
        low = high if high is not None else low
    numerator = parts[0]
    for part in parts[1:]:
        numerator = f"cp_add({numerator}, {part})"
    return numerator


def earned(ctx: RunContext) -> tuple[str, dict]:
    numerator = tiered_numerator(ctx.terms.tiers())
    sql = f"""
        revenue AS (
            SELECT a.partner_id,
                   SUM(CASE WHEN a.day >= %(start)s THEN a.amount_minor ELSE 0 END) AS month_total,
                   SUM(CASE WHEN a.day < %(start)s THEN a.amount_minor ELSE 0 END) AS ytd
            FROM {AD_REVENUE_TABLE} a {ctx.members_join("a")}
            WHERE a.currency = %(currency)s AND a.day >= %(year_start)s AND a.day <= %(end)s
              AND {LIVE_DAY.format(day="a.day")}
            GROUP BY a.partner_id),
        earned AS (
            SELECT r.partner_id, 'revenue' AS basis, r.month_total AS basis_value, 0 AS basis_total, 0 AS weight,
                   cp_div_half_even({numerator}, {PPM}) AS gross, FALSE AS capped, 0 AS rounding, 0 AS remainder,
                   CASE WHEN r.ytd <> 0 THEN 'year-to-date before the month: ' || r.ytd ELSE '' END AS note
            FROM revenue r WHERE r.month_total <> 0)"""
    return sql, {"year_start": date_param(ctx.start.replace(month=1))}
