"""Properties of the SQL split for random budgets and view counts (hypothesis), checked against a
round-by-round water-filling written in Python with exact fractions, and of the exact helpers."""

import random
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.sql import div_half_even, fetchall
from payouts.formulas.split import split_ctes

PROFILE = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sql_split(weights: dict[int, int], budget: int, cap: int | None, retain: bool, order_seed: int) -> dict:
    """Run the production CTEs over the given weights, listed in a shuffled order."""
    rows = list(weights.items())
    random.Random(order_seed).shuffle(rows)
    values = ", ".join(f"({partner_id}, {weight})" for partner_id, weight in rows)
    ctes, params = split_ctes(budget=budget, cap=cap, retain_excess=retain)
    result = fetchall(f"WITH src(partner_id, w) AS (VALUES {values}), {ctes} "
                      "SELECT partner_id, gross, capped FROM allocated", params)
    return {int(partner_id): (int(gross), bool(capped)) for partner_id, gross, capped in result}


def reference_shares(weights: dict[int, int], budget: int, cap: int | None,
                     retain: bool) -> tuple[dict[int, Fraction], set[int]]:
    """Exact shares by the textbook algorithm: cap whoever passes it, re-share the rest, repeat.
    Returns the shares and who was capped (a share exactly at the cap is not "capped")."""
    total = sum(weights.values())
    if cap is None:
        return {p: Fraction(budget * w, total) if total else Fraction(0) for p, w in weights.items()}, set()
    if retain:
        capped = {p for p, w in weights.items() if Fraction(budget * w, total) > cap}
        return {p: Fraction(cap) if p in capped else Fraction(budget * w, total) for p, w in weights.items()}, capped
    capped: set[int] = set()
    while True:
        free = {p: w for p, w in weights.items() if p not in capped}
        free_total, free_budget = sum(free.values()), budget - cap * len(capped)
        over = {p for p, w in free.items() if free_total and Fraction(free_budget * w, free_total) > cap}
        if not over:
            break
        capped |= over
    shares = {p: Fraction(cap) for p in capped}
    shares.update({p: Fraction(free_budget * w, free_total) if free_total else Fraction(0) for p, w in free.items()})
    return shares, capped


weights_strategy = st.dictionaries(st.integers(1, 10_000), st.integers(1, 10**12), min_size=1, max_size=40)


@PROFILE
@given(budget=st.integers(min_value=0, max_value=10**11), weights=weights_strategy, seed=st.integers(0, 1000))
def test_uncapped_split_is_exact_fair_and_order_free(db, budget, weights, seed):
    amounts = sql_split(weights, budget, None, False, seed)
    assert sum(gross for gross, _ in amounts.values()) == budget
    exact, _ = reference_shares(weights, budget, None, False)
    for partner_id, (gross, capped) in amounts.items():
        assert gross >= 0
        assert abs(gross - exact[partner_id]) < 1
        assert not capped
    assert sql_split(weights, budget, None, False, seed + 1) == amounts


@PROFILE
@given(budget=st.integers(min_value=0, max_value=10**9), weights=weights_strategy,
       cap=st.integers(min_value=1, max_value=10**9), retain=st.booleans(), seed=st.integers(0, 1000))
def test_capped_split_matches_round_by_round_water_filling(db, budget, weights, cap, retain, seed):
    amounts = sql_split(weights, budget, cap, retain, seed)
    exact, capped_set = reference_shares(weights, budget, cap, retain)
    for partner_id, (gross, capped) in amounts.items():
        assert 0 <= gross <= cap
        assert abs(gross - exact[partner_id]) < 1
        assert capped == (partner_id in capped_set)
    spent = sum(gross for gross, _ in amounts.values())
    assert spent == int(sum(exact.values()))  # the exact total, floored: the whole budget when redistributed
    if not retain:
        assert spent == min(budget, cap * len(weights))
    assert sql_split(weights, budget, cap, retain, seed + 7) == amounts


@pytest.mark.django_db
@pytest.mark.parametrize("retain", [False, True])
def test_a_budget_of_zero_with_a_cap_gives_everyone_zero_and_caps_nobody(retain):
    assert sql_split({1: 5, 2: 3, 3: 1}, 0, 100, retain, 1) == {1: (0, False), 2: (0, False), 3: (0, False)}


@pytest.mark.django_db
@pytest.mark.parametrize(("weights", "budget", "cap"), [
    ({1: 1000, 2: 1000, 3: 10, 4: 10, 5: 10}, 100, 30),  # the heaviest budget // cap + 1 = 4 end inside the 10s
    ({1: 1000, 2: 1000, 3: 1000, 4: 10, 5: 10}, 100, 30),  # ... inside the 1000s, the cut among the 10s
    ({1: 50, 2: 50, 3: 50, 4: 50}, 100, 25),  # exactly budget = cap × members: nobody passes the cap
    ({1: 900, 2: 90, 3: 9, 4: 1}, 1000, 1),  # everyone at the cap, the budget not spent
])
def test_the_cut_is_found_among_the_heaviest_budget_over_cap_members(weights, budget, cap):
    # the levels are taken over the heaviest budget // cap + 1 members only: ties across that place change nothing
    exact, capped_set = reference_shares(weights, budget, cap, False)
    amounts = sql_split(weights, budget, cap, False, 5)
    assert {partner_id for partner_id, (_, capped) in amounts.items() if capped} == capped_set
    for partner_id, (gross, _) in amounts.items():
        assert abs(gross - exact[partner_id]) < 1
    assert sum(gross for gross, _ in amounts.values()) == min(budget, cap * len(weights))


@pytest.mark.django_db
def test_ties_in_remainder_go_to_the_lower_partner_id():
    assert sql_split({30: 1, 10: 1, 20: 1}, 100, None, False, 3) == {10: (34, False), 20: (33, False), 30: (33, False)}


@settings(max_examples=2000)
@given(numerator=st.integers(min_value=-(10**20), max_value=10**20), denominator=st.integers(1, 10**9))
def test_div_half_even_matches_decimal_rounding(numerator, denominator):
    exact = Fraction(numerator, denominator)
    with localcontext() as context:
        context.prec = 60  # enough digits that the quotient is exact to well past the half-way point
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert div_half_even(numerator, denominator) == int(expected)
    assert abs(div_half_even(numerator, denominator) - exact) <= Fraction(1, 2)
