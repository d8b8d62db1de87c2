"""Split a budget over a run's lines by weight: water-filling cap, then largest-remainder rounding.

Invariants (see tests/payouts/test_split_properties.py): the lines sum exactly to the distributed total
(the whole budget unless every partner is capped or the policy returns the excess); no line is negative
or above the cap; each line is within one minor unit of its exact share; the result does not depend on
row order (ties go to the lower partner id).
"""

from __future__ import annotations

from payouts.formulas.context import LINE_TABLE
from payouts.sql import execute, fetchone

FLOOR = "cp_muldiv_floor(%(budget)s, weight, %(weight_total)s)"
REM = "cp_muldiv_rem(%(budget)s, weight, %(weight_total)s)"
SCOPE = f"FROM {LINE_TABLE} WHERE run_id = %(run)s AND weight > 0"


def split(*, run_id: int, budget: int, cap: int | None = None, retain_excess: bool = False) -> int:
    """Set gross_minor of the run's weighted lines; return the total distributed."""
    if budget <= 0:
        return 0
    weight_all = int(fetchone(f"SELECT COALESCE(SUM(weight), 0) {SCOPE}", {"run": run_id})[0])
    if weight_all == 0:
        return 0
    capped_count = 0
    if cap is not None:
        # Water-filling: partners whose share passes the cap are fixed at the cap, and (when the excess is
        # redistributed) the rest is re-shared among the others; repeat until nobody new passes the cap.
        # Each round is one UPDATE; rounds are bounded by the number of distinct cap hits, not partners.
        while True:
            capped_count, weight_free = (int(v or 0) for v in fetchone(
                f"SELECT SUM(CASE WHEN capped THEN 1 ELSE 0 END), SUM(CASE WHEN capped THEN 0 ELSE weight END) "
                f"{SCOPE}", {"run": run_id}))
            round_budget, round_weight = (budget, weight_all) if retain_excess else (
                budget - cap * capped_count, weight_free)
            if round_weight == 0:
                break
            params = {"run": run_id, "budget": round_budget, "weight_total": round_weight, "cap": cap}
            newly_capped = execute(
                f"UPDATE {LINE_TABLE} SET capped = TRUE, gross_minor = %(cap)s "
                f"WHERE run_id = %(run)s AND weight > 0 AND NOT capped "
                f"AND ({FLOOR} > %(cap)s OR ({FLOOR} = %(cap)s AND {REM} > 0))", params)
            if newly_capped == 0 or retain_excess:
                break
        capped_count, weight_free = (int(v or 0) for v in fetchone(
            f"SELECT SUM(CASE WHEN capped THEN 1 ELSE 0 END), SUM(CASE WHEN capped THEN 0 ELSE weight END) {SCOPE}",
            {"run": run_id}))
    else:
        weight_free = weight_all
    if weight_free == 0:
        return cap * capped_count if cap is not None else 0
    if retain_excess:
        share_budget, share_weight = budget, weight_all
        target = (budget * weight_free) // weight_all  # the uncapped partners' exact total, floored
    else:
        share_budget, share_weight = budget - (cap or 0) * capped_count, weight_free
        target = share_budget
    params = {"run": run_id, "budget": share_budget, "weight_total": share_weight}
    execute(f"UPDATE {LINE_TABLE} SET gross_minor = {FLOOR}, remainder = {REM} "
            f"WHERE run_id = %(run)s AND weight > 0 AND NOT capped", params)
    floored = int(fetchone(f"SELECT COALESCE(SUM(gross_minor), 0) {SCOPE} AND NOT capped", {"run": run_id})[0])
    leftover = target - floored
    if leftover > 0:
        # Largest remainder: one cent each to the largest remainders, ties by ascending partner id.
        execute(
            f"UPDATE {LINE_TABLE} SET gross_minor = gross_minor + 1, rounding_minor = 1 WHERE id IN ("
            f"SELECT id {SCOPE} AND NOT capped ORDER BY remainder DESC, partner_id ASC LIMIT %(leftover)s)",
            {"run": run_id, "leftover": leftover},
        )
    return target + (cap or 0) * capped_count
