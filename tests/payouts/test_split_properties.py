"""Properties of the SQL split for random budgets and view counts (hypothesis), and of the exact helpers."""

import datetime as dt
import random
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payouts.formulas.split import split
from payouts.models import EarningLine, PayoutRun
from payouts.sql import div_half_even
from tests.partnerships.factories import PartnerFactory, ProgramFactory

MAX_PARTNERS = 40
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def pool(db):
    return {"program": ProgramFactory(), "partners": PartnerFactory.create_batch(MAX_PARTNERS)}


def split_in_order(pool, weights, budget, cap, order_seed) -> dict[int, int]:
    """Write one line per partner in a shuffled order, split, and return partner id → amount."""
    month = dt.date(2000 + PayoutRun.objects.count() // 12, PayoutRun.objects.count() % 12 + 1, 1)
    run = PayoutRun.objects.create(program=pool["program"], month=month, currency="USD", as_of=month,
                                   started_at=timezone.now())
    rows = list(zip(pool["partners"], weights, strict=False))
    random.Random(order_seed).shuffle(rows)
    EarningLine.objects.bulk_create(
        EarningLine(run=run, partner=partner, basis="views", basis_value=weight, weight=weight)
        for partner, weight in rows
    )
    split(run_id=run.pk, budget=budget, cap=cap)
    return dict(EarningLine.objects.filter(run=run).values_list("partner_id", "gross_minor"))


weights_strategy = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=MAX_PARTNERS)


@PROFILE
@given(budget=st.integers(min_value=0, max_value=10**11), weights=weights_strategy, seed=st.integers(0, 1000))
def test_uncapped_split_is_exact_fair_and_order_free(pool, budget, weights, seed):
    amounts = split_in_order(pool, weights, budget, None, seed)
    total_weight = sum(weights)
    expected_total = budget if total_weight else 0
    assert sum(amounts.values()) == expected_total
    by_partner = dict(zip((p.pk for p in pool["partners"]), weights, strict=False))
    for partner_id, amount in amounts.items():
        assert amount >= 0
        if total_weight:
            exact = Fraction(budget * by_partner[partner_id], total_weight)
            assert abs(amount - exact) < 1
        if by_partner[partner_id] == 0:
            assert amount == 0
    assert split_in_order(pool, weights, budget, None, seed + 1) == amounts


@PROFILE
@given(budget=st.integers(min_value=1, max_value=10**9), weights=weights_strategy,
       cap=st.integers(min_value=1, max_value=10**9), seed=st.integers(0, 1000))
def test_capped_split_never_passes_the_cap_and_spends_what_it_can(pool, budget, weights, cap, seed):
    amounts = split_in_order(pool, weights, budget, cap, seed)
    paying = sum(1 for weight in weights if weight > 0)
    assert all(0 <= amount <= cap for amount in amounts.values())
    # Redistribution spends the whole budget unless every paid partner sits at the cap.
    assert sum(amounts.values()) == min(budget, cap * paying)
    assert split_in_order(pool, weights, budget, cap, seed + 7) == amounts


@settings(max_examples=2000)
@given(numerator=st.integers(min_value=-(10**20), max_value=10**20), denominator=st.integers(1, 10**9))
def test_div_half_even_matches_decimal_rounding(numerator, denominator):
    exact = Fraction(numerator, denominator)
    with localcontext() as context:
        context.prec = 60  # enough digits that the quotient is exact to well past the half-way point
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert div_half_even(numerator, denominator) == int(expected)
    assert abs(div_half_even(numerator, denominator) - exact) <= Fraction(1, 2)
