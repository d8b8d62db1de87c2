"""The formulas of DESIGN.md, to the cent, on each archetype's own cases."""

import datetime as dt

import pytest

from partnerships.models import Partner, Program
from payouts.models import EarningLine, PayoutRun, ProgramTerms
from payouts.services.runs import payout_run_compute
from tests.payouts.factories import MONTH, member, paying_program, revenue, video

pytestmark = pytest.mark.django_db
A = Program.Archetype


def compute(program, month=MONTH):
    run = payout_run_compute(program_id=program.pk, month=month)
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    return run


def gross(run) -> dict[str, int]:
    return dict(EarningLine.objects.filter(run=run).values_list("partner__handle", "gross_minor"))


# --- F1 pooled fund ---------------------------------------------------------------------------------

def test_design_example_cap_and_redistribute():
    program = paying_program(partner_cap_minor=5_000_00)
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)
    run = compute(program)
    assert gross(run) == {"a": 5_000_00, "b": 3_750_00, "c": 1_250_00}
    assert run.total_gross_minor == 10_000_00 == run.budget_minor
    assert EarningLine.objects.get(run=run, partner__handle="a").capped is True


def test_cap_cascade_needs_several_rounds():
    # A is capped first; redistributing its excess pushes B over the cap too; C and D share the rest.
    program = paying_program(month_budget=1_000_00, partner_cap_minor=300_00)
    for handle, views in [("a", 500), ("b", 250), ("c", 150), ("d", 100)]:
        member(program, handle=handle, views=views)
    run = compute(program)
    assert gross(run) == {"a": 300_00, "b": 300_00, "c": 240_00, "d": 160_00}
    assert sum(gross(run).values()) == 1_000_00


def test_retain_policy_returns_the_excess_to_the_fund():
    program = paying_program(partner_cap_minor=5_000_00, excess_policy=ProgramTerms.ExcessPolicy.RETAIN)
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)
    run = compute(program)
    assert gross(run) == {"a": 5_000_00, "b": 3_000_00, "c": 1_000_00}
    assert run.total_gross_minor == 9_000_00


def test_every_partner_capped_leaves_the_rest_in_the_fund():
    program = paying_program(month_budget=1_000_00, partner_cap_minor=100_00)
    for handle in "abc":
        member(program, handle=handle, views=10)
    assert gross(compute(program)) == {"a": 100_00, "b": 100_00, "c": 100_00}


@pytest.mark.parametrize("excess_policy", [ProgramTerms.ExcessPolicy.REDISTRIBUTE, ProgramTerms.ExcessPolicy.RETAIN])
def test_a_month_with_no_budget_pays_every_partner_nothing_even_with_a_cap(excess_policy):
    # Regression: with a budget of 0, a cap and the excess redistributed, every partner was "capped" at the cap, so
    # the lines spent three caps of a budget of nothing and the run was refused as overdrawing the fund.
    program = paying_program(month_budget=0, partner_cap_minor=100_00, excess_policy=excess_policy)
    for handle, views in [("a", 6_000), ("b", 3_000), ("c", 1_000)]:
        member(program, handle=handle, views=views)
    run = compute(program)
    assert run.budget_minor == 0
    assert gross(run) == {"a": 0, "b": 0, "c": 0}
    assert run.total_gross_minor == 0
    assert run.spend_minor == 0
    assert not EarningLine.objects.filter(run=run, capped=True).exists()


def test_tied_remainders_go_to_the_lowest_partner_ids():
    program = paying_program(month_budget=100)  # one dollar among three equal partners
    first, second, third = (member(program, views=1) for _ in range(3))
    run = compute(program)
    lines = dict(EarningLine.objects.filter(run=run).values_list("partner_id", "gross_minor"))
    assert lines == {first.pk: 34, second.pk: 33, third.pk: 33}
    assert EarningLine.objects.get(run=run, partner=first).rounding_minor == 1


def test_largest_remainders_get_the_leftover_cents():
    # 10.00 split 1:1:1:4: exact shares 142.857… (remainder 6/7) ×3 and 571.428… (remainder 3/7);
    # the floors leave 3 cents, which go to the three larger remainders.
    program = paying_program(month_budget=1_000)
    for handle, views in [("a", 1), ("b", 1), ("c", 1), ("d", 4)]:
        member(program, handle=handle, views=views)
    run = compute(program)
    assert gross(run) == {"a": 143, "b": 143, "c": 143, "d": 571}


def test_zero_views_and_below_minimum_do_not_take_part():
    program = paying_program(min_views=1_000)
    member(program, handle="active", views=5_000)
    member(program, handle="small", views=999)
    member(program, handle="silent")
    assert gross(compute(program)) == {"active": 10_000_00}


def test_nobody_with_views_means_no_lines_and_budget_rolls_over():
    program = paying_program(months=2)
    run = compute(program)
    assert run.line_count == 0
    member(program, handle="late", views=10, day=dt.date(2026, 9, 15))
    november = compute(program, MONTH.replace(month=9))
    assert november.budget_minor == 20_000_00  # October's unspent budget rolled over
    assert gross(november) == {"late": 20_000_00}


def test_unspent_budget_lapses_when_the_fund_says_so():
    program = paying_program(months=2, rollover=False)
    compute(program)
    member(program, handle="late", views=10, day=dt.date(2026, 9, 15))
    assert compute(program, MONTH.replace(month=9)).budget_minor == 10_000_00


def test_pool_share_scales_budget_and_cap():
    program = paying_program(partner_cap_minor=5_000_00, pool_share="0.45")
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)
    assert gross(compute(program)) == {"a": 2_250_00, "b": 1_687_50, "c": 562_50}


def test_views_outside_the_month_or_before_approval_do_not_count():
    program = paying_program()
    member(program, handle="a", views=100)
    member(program, handle="b", views=100, day=dt.date(2026, 7, 31))
    member(program, handle="c", views=100, approved_at=dt.datetime(2026, 9, 2, tzinfo=dt.UTC))
    assert gross(compute(program)) == {"a": 10_000_00}


def test_tranche_is_released_evenly_with_leftover_cents_first():
    program = paying_program(month_budget=None)
    from payouts.models import BudgetTranche, Fund
    BudgetTranche.objects.create(fund=Fund.objects.get(program=program), starts_on=MONTH,
                                 ends_on=dt.date(2026, 10, 1), amount_minor=100)  # 100 cents over 3 months
    member(program, handle="a", views=1)
    assert compute(program).budget_minor == 34


# --- F2 revenue share -------------------------------------------------------------------------------

def test_design_example_half_even():
    program = paying_program(A.REVENUE_SHARE, month_budget=None)
    revenue(member(program, handle="a"), 34_57)
    revenue(member(program, handle="b"), 34_59)  # 17.295 → 17.30 (half to even, up)
    revenue(member(program, handle="c"), 1)  # 0.005 → 0.00
    assert gross(compute(program)) == {"a": 17_28, "b": 17_30, "c": 0}


def test_year_to_date_tiers():
    program = paying_program(A.REVENUE_SHARE, month_budget=None, revenue_tiers=[
        {"up_to_minor": 100_000_00, "rate": "0.70"}, {"up_to_minor": None, "rate": "0.50"}])
    partner = member(program, handle="a")
    revenue(partner, 95_000_00, day=dt.date(2026, 3, 1))
    revenue(partner, 12_000_00)
    assert gross(compute(program)) == {"a": 7_000_00}  # 5,000 at 70% + 7,000 at 50%


def test_revenue_in_another_currency_is_ignored():
    program = paying_program(A.REVENUE_SHARE, month_budget=None)
    revenue(member(program, handle="a"), 100_00, currency="EUR")
    assert gross(compute(program)) == {}


def test_revenue_share_refuses_to_overdraw_the_fund():
    program = paying_program(A.REVENUE_SHARE, month_budget=None, fund_total=10_00)
    revenue(member(program, handle="a"), 100_00)
    run = payout_run_compute(program_id=program.pk, month=MONTH)
    assert run.status == PayoutRun.Status.FAILED
    assert "would spend 50.00 USD but fund" in run.error
    assert "has 10.00 USD left" in run.error
    assert EarningLine.objects.filter(run=run).count() == 0


# --- F3 rate per 1,000 views --------------------------------------------------------------------------

def rpm_program(**terms):
    return paying_program(A.RATE_PER_MILLE, month_budget=1_000_000_00,
                          rpm_by_country={"US": "0.80", "*": "0.40"}, **terms)


def test_rpm_design_example_with_partner_cap():
    program = rpm_program(partner_cap_minor=300_00)
    partner = member(program, handle="a")
    video(partner, views=250_000)  # 200.00
    video(partner, views=900)  # below the 1,000 floor: 0
    video(partner, views=150_000)  # 120.00
    run = compute(program)
    assert gross(run) == {"a": 300_00}
    assert "partner cap reached" in EarningLine.objects.get(run=run).note


def test_rpm_rules_short_early_and_foreign_videos():
    program = rpm_program()
    us, fr = member(program, handle="us"), member(program, handle="fr", country="FR")
    video(us, views=10_000)  # 8.00
    video(us, views=10_000, duration=60)  # not longer than a minute
    video(us, views=10_000, posted_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))  # before approval
    video(fr, views=10_000)  # default rate 0.40 → 4.00
    assert gross(compute(program)) == {"us": 8_00, "fr": 4_00}


def test_rpm_video_cap():
    program = rpm_program(video_cap_minor=5_00)
    partner = member(program, handle="a")
    video(partner, views=10_000)  # 8.00 → 5.00
    video(partner, views=2_500)  # 2.00
    assert gross(compute(program)) == {"a": 7_00}


def test_rpm_scales_everyone_to_the_budget():
    program = paying_program(A.RATE_PER_MILLE, month_budget=10_00, rpm_by_country={"*": "1.00"})
    video(member(program, handle="a"), views=20_000)  # owed 20.00
    video(member(program, handle="b"), views=10_000)  # owed 10.00
    run = compute(program)
    assert gross(run) == {"a": 6_67, "b": 3_33}
    assert run.total_gross_minor == 10_00


# --- grants -----------------------------------------------------------------------------------------

def test_grant_fund_running_out_mid_month():
    program = paying_program(A.GRANT, month_budget=2_500_00, grant_monthly_minor=1_000_00)
    for index, handle in enumerate(["first", "second", "third", "fourth"]):
        member(program, handle=handle, approved_at=dt.datetime(2026, 7, 1 + index, tzinfo=dt.UTC))
    run = compute(program)
    assert gross(run) == {"first": 1_000_00, "second": 1_000_00, "third": 500_00, "fourth": 0}
    assert run.total_gross_minor == 2_500_00
    notes = dict(EarningLine.objects.filter(run=run).values_list("partner__handle", "note"))
    assert notes["third"] == "fund exhausted: partial grant"


# --- settlement: minimum payout, holds, adjustments ----------------------------------------------------

def test_hold_reasons_are_listed():
    program = paying_program()
    member(program, handle="a", views=10, tax_form_on_file=False, identity_verified=False,
           status=Partner.Status.SUSPENDED)
    line = EarningLine.objects.get(run=compute(program))
    assert line.status == EarningLine.Status.HELD
    assert line.hold_reason == "no tax form on file; identity not verified; partner suspended"


def test_hold_rules_can_be_switched_off():
    program = paying_program(hold_without_tax_form=False)
    member(program, handle="a", views=10, tax_form_on_file=False)
    assert EarningLine.objects.get(run=compute(program)).status == EarningLine.Status.PAYABLE
