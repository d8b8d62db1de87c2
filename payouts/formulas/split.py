"""Split a budget by weight in SQL: water-filling cap, then largest-remainder rounding, as CTEs.

``split_ctes`` turns a CTE ``src(partner_id, w)`` into a CTE ``allocated(partner_id, w, capped, gross,
rounding, remainder)`` inside the same statement, so a run's lines are written by one INSERT.

Water-filling in closed form: partners whose share passes the cap are fixed at it and their excess
re-shared; the capped partners are always the heaviest. For each distinct weight, with every heavier
partner capped, the share is (budget − cap·n_heavier)·w / (W − w_heavier); the heaviest weight whose share
stays within the cap is the cut, everyone heavier is capped. That is exactly where the round-by-round
algorithm stops (tests/payouts/test_split_properties.py checks it against one written in Python).
The levels are taken over the heaviest budget // cap + 1 members only (a top-N sort, not a grouping and running
sums over every member): no lighter level can be the cut. The cut level's running totals also give the capped
count and the uncapped weight, so the members are read once more only to write their shares.

Invariants: lines sum exactly to the distributed total (the whole budget unless everyone is capped or the
program returns the excess); no line is negative or above the cap; each is within one minor unit of its
exact share; ties of remainder go to the lower partner id, so row order never matters.

The cents left after flooring go to the largest remainders, one each, in one ordering of every member (no
partition by capped: a capped member's remainder is 0, and the cents left are fewer than the uncapped members with a
positive remainder, Σ remainder / free weight, so no member with remainder 0 is ever reached and the places of those
before are the same). One window (the whole set in that order) numbers them and sums the floored shares: one sort on
a bigint first key, and one pass.

The cut's budget test is ``>= 0``, not ``> 0``: with a budget of 0 the heaviest level (nobody heavier) shares
nothing, which is within the cap, so nobody is capped and every line is 0. With ``> 0`` no level qualified, the cut
was NULL, which means "everyone is capped", and a month with nothing to share paid every partner the cap. For a
positive budget the two agree: a level with budget = cap × (partners heavier) is never the heaviest qualifying one
(capping k partners at the cap needs a budget above k caps).
"""

from __future__ import annotations

FLOOR = "cp_muldiv_floor({a}, {b}, {c})"
REM = "cp_muldiv_rem({a}, {b}, {c})"
# A level's exact share of what the partners at or below it share, were every heavier partner capped.
LEVEL_SHARE = {"a": "%(split_budget)s - cp_mul(%(split_cap)s, l.n_heavier)", "b": "l.w", "c": "t.w_all - l.w_heavier"}
FREE_BUDGET = "%(split_budget)s - cp_mul(%(split_cap)s, f.n_capped)"  # what the uncapped partners share
# A partner's floored share is at most the budget and its remainder below the total weight: both fit a bigint, and
# sorting a million rows by a bigint remainder is several times faster than by a numeric one.
SHARE_FLOOR = "CAST(" + FLOOR + " AS bigint)"
SHARE_REM = "CAST(" + REM + " AS bigint)"


def _over_cap(budget: str, weight: str, total: str) -> str:
    """SQL: budget·weight/total > cap, exactly (total > 0)."""
    floor, rem = FLOOR.format(a=budget, b=weight, c=total), REM.format(a=budget, b=weight, c=total)
    return f"({floor} > %(split_cap)s OR ({floor} = %(split_cap)s AND {rem} > 0))"


# Past this many members a LIMIT is no limit (SQLite reads LIMIT NULL as an error, so a number).
NO_LIMIT = 2**62


def _heaviest_needed(budget: int, cap: int) -> int:
    """How many of the heaviest members the cut's levels need: a level qualifies only if the budget covers its
    heavier members at the cap (budget − cap × n_heavier ≥ 0), so n_heavier ≤ budget // cap, and the level's own
    first member is at most at place budget // cap + 1 in the order heaviest first. Every member heavier than such a
    level is among those places, so its n_heavier and w_heavier counted over them alone are exact."""
    if cap <= 0:
        return NO_LIMIT
    return min(max(int(budget), 0) // cap + 1, NO_LIMIT)


def split_ctes(*, budget: int, cap: int | None, retain_excess: bool) -> tuple[str, dict]:
    """CTEs (to follow a ``src`` CTE) ending in ``allocated``; and their parameters."""
    params = {"split_budget": max(int(budget), 0), "split_cap": cap}
    totals = "split_tot AS (SELECT COUNT(*) AS n_all, COALESCE(SUM(w), 0) AS w_all FROM src)"
    if cap is None:
        capped = "FALSE"
        shares = f"""
            split_free AS (SELECT 0 AS n_capped, w_all AS w_free,
                                  CASE WHEN w_all > 0 THEN %(split_budget)s ELSE 0 END AS target FROM split_tot),
            split_shares AS (
                SELECT s.partner_id, s.w, FALSE AS capped,
                       {SHARE_FLOOR.format(a="%(split_budget)s", b="s.w", c="NULLIF(f.w_free, 0)")} AS floored,
                       {SHARE_REM.format(a="%(split_budget)s", b="s.w", c="NULLIF(f.w_free, 0)")} AS remainder
                FROM src s CROSS JOIN split_free f)"""
    elif retain_excess:
        capped = _over_cap("%(split_budget)s", "s.w", "t.w_all")
        shares = f"""
            split_flag AS (SELECT s.partner_id, s.w, {capped} AS capped FROM src s CROSS JOIN split_tot t),
            split_free AS (
                SELECT COALESCE(SUM(CASE WHEN capped THEN 1 ELSE 0 END), 0) AS n_capped,
                       COALESCE(SUM(CASE WHEN capped THEN 0 ELSE w END), 0) AS w_free FROM split_flag),
            split_shares AS (
                SELECT g.partner_id, g.w, g.capped,
                       CASE WHEN g.capped THEN %(split_cap)s
                            ELSE {SHARE_FLOOR.format(a="%(split_budget)s", b="g.w", c="t.w_all")} END AS floored,
                       CASE WHEN g.capped THEN 0
                            ELSE {SHARE_REM.format(a="%(split_budget)s", b="g.w", c="t.w_all")} END AS remainder
                FROM split_flag g CROSS JOIN split_tot t)"""
        # The uncapped partners keep their exact shares: their total, floored, is what is handed out.
        params["retain"] = True
    else:
        not_capped = (
            "(" + FLOOR.format(**LEVEL_SHARE)
            + " < %(split_cap)s OR ("
            + FLOOR.format(**LEVEL_SHARE)
            + " = %(split_cap)s AND "
            + REM.format(**LEVEL_SHARE)
            + " = 0))"
        )
        # Only the heaviest budget // cap + 1 members can hold the cut (see _heaviest_needed): the levels are taken
        # over them, a top-N sort of the members, not grouped and numbered over every member.
        params["split_heaviest"] = _heaviest_needed(budget, cap)
        shares = f"""
            split_heaviest AS (SELECT w FROM src ORDER BY w DESC LIMIT %(split_heaviest)s),
            split_levels AS (
                SELECT g.w,
                       COALESCE(SUM(g.n) OVER (ORDER BY g.w DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                           AS n_heavier,
                       COALESCE(SUM(g.sw) OVER (ORDER BY g.w DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                           AS w_heavier
                FROM (SELECT w, COUNT(*) AS n, SUM(w) AS sw FROM split_heaviest GROUP BY w) g),
            split_free AS (
                SELECT c.w AS w_cut, COALESCE(c.n_heavier, t.n_all) AS n_capped,
                       t.w_all - COALESCE(c.w_heavier, t.w_all) AS w_free
                FROM split_tot t LEFT JOIN (
                    SELECT l.w, l.n_heavier, l.w_heavier FROM split_levels l CROSS JOIN split_tot t
                    WHERE %(split_budget)s - cp_mul(%(split_cap)s, l.n_heavier) >= 0 AND {not_capped}
                    ORDER BY l.w DESC LIMIT 1) c ON 1 = 1),
            split_flag AS (
                SELECT s.partner_id, s.w, (f.w_cut IS NULL OR s.w > f.w_cut) AS capped
                FROM src s CROSS JOIN split_free f),
            split_shares AS (
                SELECT g.partner_id, g.w, g.capped,
                       CASE WHEN g.capped THEN %(split_cap)s ELSE {SHARE_FLOOR.format(
                           a=FREE_BUDGET, b="g.w", c="NULLIF(f.w_free, 0)")} END AS floored,
                       CASE WHEN g.capped THEN 0 ELSE {SHARE_REM.format(
                           a=FREE_BUDGET, b="g.w", c="NULLIF(f.w_free, 0)")} END AS remainder
                FROM split_flag g CROSS JOIN split_free f)"""
    if cap is not None and retain_excess:
        target = f"(SELECT {FLOOR.format(a='%(split_budget)s', b='f.w_free', c='NULLIF(t.w_all, 0)')} "
        target += "FROM split_free f CROSS JOIN split_tot t)"
    elif cap is not None:
        target = ("(SELECT CASE WHEN w_free > 0 THEN %(split_budget)s - cp_mul(%(split_cap)s, n_capped) ELSE 0 END "
                  "FROM split_free)")
    else:
        target = "(SELECT target FROM split_free)"
    ctes = f"""
        {totals},
        {shares},
        split_ranked AS (
            SELECT sh.partner_id, sh.w, sh.capped, sh.floored, sh.remainder,
                   ROW_NUMBER() OVER whole AS place,
                   COALESCE({target}, 0) - SUM(CASE WHEN sh.capped THEN 0 ELSE sh.floored END) OVER whole AS leftover
            FROM split_shares sh
            WINDOW whole AS (ORDER BY sh.remainder DESC, sh.partner_id
                             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)),
        allocated AS (
            SELECT partner_id, w, capped, remainder,
                   CASE WHEN NOT capped AND place <= leftover THEN 1 ELSE 0 END AS rounding,
                   floored + CASE WHEN NOT capped AND place <= leftover THEN 1 ELSE 0 END AS gross
            FROM split_ranked)"""
    params.pop("retain", None)
    return ctes, params
