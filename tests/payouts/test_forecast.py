"""The fund forecast (payouts.forecast): hand-computed schedules, lapses, rollovers and the exhaustion warning."""

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.periods import add_months
from partnerships.models import Program
from payouts.forecast import LAPSES, PACE_NONE, PACE_RELEASE, PACE_TREND, ROLLS_OVER, forecast_fund
from payouts.funds import month_release
from payouts.models import BudgetTranche

POOLED, SHARE, RATE = Program.Archetype.POOLED_FUND, Program.Archetype.REVENUE_SHARE, Program.Archetype.RATE_PER_MILLE


def month(m: int, year: int = 2026) -> dt.date:
    return dt.date(year, m, 1)


def tranche(first: dt.date, last: dt.date, amount: int) -> BudgetTranche:
    return BudgetTranche(starts_on=first, ends_on=last, amount_minor=amount)  # never saved: the forecast is pure


def test_a_lapsing_rate_fund_following_a_falling_trend_lapses_the_hand_computed_amount_on_the_schedules_last_day():
    # 6,000.03 over January-June releases 1,000.01 in January-March (the three spare cents) and 1,000.00 after.
    forecast = forecast_fund(
        archetype=RATE, total_minor=7_000_00, rollover_unspent=False,
        tranches=[tranche(month(1), month(6), 6_000_03)],
        spend_by_month={month(1): 900_00, month(2): 800_00, month(3): 700_00}, as_of=month(4))
    # The trend of the three runs falls by 100.00 a month: April 600.00, May 500.00, June 400.00.
    assert [(r.month.month, r.release, r.spent, r.projected, r.lapsed) for r in forecast.months] == [
        (1, 1_000_01, 900_00, False, 100_01), (2, 1_000_01, 800_00, False, 200_01),
        (3, 1_000_01, 700_00, False, 300_01), (4, 1_000_00, 600_00, True, 400_00),
        (5, 1_000_00, 500_00, True, 500_00), (6, 1_000_00, 400_00, True, 600_00)]
    # Lapsed: 100.01 + 200.01 + 300.01 (done) + 400 + 500 + 600 (to come) = 2,100.03, all gone by June 30.
    assert (forecast.unspent_at_end, forecast.unspent_policy, forecast.unspent_on) == (
        2_100_03, LAPSES, dt.date(2026, 6, 30))
    assert forecast.projected_lapse == 1_500_00
    assert (forecast.pace, forecast.pace_runs) == (PACE_TREND, 3)
    # Released so far: January-April; May and June still to come; 999.97 of the total is in no tranche.
    assert (forecast.released_so_far, forecast.to_be_released, forecast.unscheduled) == (4_000_03, 2_000_00, 999_97)
    assert [(s.starts_on, s.ends_on, s.amount_minor, s.monthly_minor) for s in forecast.remaining_schedule] == [
        (month(5), month(6), 2_000_00, 1_000_00)]
    assert (forecast.runs_short_on, forecast.exhausts_before_end, forecast.runs_out_on) == (None, False, None)
    assert forecast.months[-1].remaining == 7_000_00 - 3_900_00


def test_a_pooled_fund_spends_its_release_and_what_rolls_over_at_its_pool_share():
    forecast = forecast_fund(
        archetype=POOLED, total_minor=4_000_00, rollover_unspent=True, pool_share=Decimal("0.5"),
        tranches=[tranche(month(1), month(4), 4_000_00)], spend_by_month={month(1): 600_00}, as_of=month(2))
    # February may spend 2,000 released − 600 spent = 1,400 and pays half: 700; March (3,000 − 1,300) / 2 = 850;
    # April (4,000 − 2,150) / 2 = 925. Left after April: 4,000 − 3,075 = 925, which rolls over.
    assert [(r.spent, r.projected) for r in forecast.months] == [
        (600_00, False), (700_00, True), (850_00, True), (925_00, True)]
    assert (forecast.unspent_at_end, forecast.unspent_policy, forecast.unspent_on) == (
        925_00, ROLLS_OVER, dt.date(2026, 4, 30))
    assert all(r.lapsed == 0 for r in forecast.months)
    assert (forecast.pace, forecast.exhausts_before_end) == (PACE_RELEASE, False)


def test_a_pooled_fund_spending_all_of_its_release_leaves_nothing_and_is_spent_on_its_last_month():
    forecast = forecast_fund(
        archetype=POOLED, total_minor=5_000_00, rollover_unspent=True,
        tranches=[tranche(month(8), month(12), 5_000_00)],
        spend_by_month={month(8): 1_000_00, month(9): 1_000_00, month(10): 1_000_00}, as_of=month(12))
    assert [r.spent for r in forecast.months if r.projected] == [1_000_00, 1_000_00]
    assert (forecast.unspent_at_end, forecast.runs_out_on, forecast.runs_short_on) == (0, month(12), None)


def test_a_pooled_fund_whose_tranches_exceed_its_total_runs_short_before_its_schedule_ends():
    forecast = forecast_fund(
        archetype=POOLED, total_minor=2_500_00, rollover_unspent=False,
        tranches=[tranche(month(1), month(4), 4_000_00)], spend_by_month={}, as_of=month(1))
    assert [(r.release, r.spent) for r in forecast.months] == [
        (1_000_00, 1_000_00), (1_000_00, 1_000_00), (500_00, 500_00), (0, 0)]
    assert (forecast.runs_short_on, forecast.runs_out_on, forecast.exhausts_before_end) == (month(3), month(3), True)
    assert forecast.unspent_at_end == 0


def _revenue_share(pace: int):
    return forecast_fund(
        archetype=SHARE, total_minor=1_000_000_00, rollover_unspent=False,
        tranches=[tranche(month(1), month(12), 1_000_000_00)],
        spend_by_month={month(1): pace, month(2): pace, month(3): pace}, as_of=month(4))


def test_a_revenue_share_whose_pace_fits_its_total_gets_no_warning():
    forecast = _revenue_share(83_333_33)  # twelve months of it: 999,999.96
    assert (forecast.runs_short_on, forecast.exhausts_before_end) == (None, False)
    assert forecast.unspent_at_end == 4  # the whole total was released from the start; four cents are left
    assert (forecast.released_so_far, forecast.remaining_schedule) == (1_000_000_00, [])
    assert all(r.lapsed == 0 for r in forecast.months)


def test_a_revenue_share_whose_pace_passes_its_total_warns_of_the_month_it_runs_short():
    forecast = _revenue_share(83_333_34)  # twelve months of it: 1,000,000.08
    assert (forecast.runs_short_on, forecast.exhausts_before_end, forecast.runs_out_on) == (month(12), True, month(12))
    assert forecast.months[-1].spent == 1_000_000_00 - 11 * 83_333_34
    assert forecast.unspent_at_end == 0


def test_a_rate_program_whose_trend_grows_past_its_monthly_release_runs_short_where_it_crosses():
    # 700, 800, 900 in January-March: April asks 1,000.00 (all of its release), May 1,100.00 (100.00 more).
    forecast = forecast_fund(
        archetype=RATE, total_minor=6_000_00, rollover_unspent=False,
        tranches=[tranche(month(1), month(6), 6_000_00)],
        spend_by_month={month(1): 700_00, month(2): 800_00, month(3): 900_00}, as_of=month(4))
    assert [r.spent for r in forecast.months if r.projected] == [1_000_00] * 3
    assert (forecast.runs_short_on, forecast.exhausts_before_end) == (month(5), True)
    assert forecast.unspent_at_end == 100_00 + 200_00 + 300_00


def test_the_trend_is_rounded_half_even_to_a_cent_and_never_negative():
    forecast = forecast_fund(
        archetype=RATE, total_minor=10_000_00, rollover_unspent=True,
        tranches=[tranche(month(1), month(6), 6_000_00)],
        spend_by_month={month(1): 3, month(2): 2, month(3): 0}, as_of=month(4))
    # least squares through (0, 3), (1, 2), (2, 0): slope −1.5, at x = 3 −0.3 → 0 (never negative).
    assert [r.spent for r in forecast.months if r.projected] == [0, 0, 0]
    one_run = forecast_fund(archetype=RATE, total_minor=10_000_00, rollover_unspent=True,
                            tranches=[tranche(month(1), month(3), 3_000_00)],
                            spend_by_month={month(1): 5, month(2): 6}, as_of=month(3))
    assert [r.spent for r in one_run.months if r.projected] == [6]  # fewer than three runs: 5.5, rounded half-even


def test_a_trend_program_without_a_run_has_no_pace_and_no_projected_lapse():
    forecast = forecast_fund(archetype=RATE, total_minor=6_000_00, rollover_unspent=False,
                             tranches=[tranche(month(1), month(6), 6_000_00)], spend_by_month={}, as_of=month(4))
    assert forecast.pace == PACE_NONE
    assert not any(r.projected for r in forecast.months)
    assert (forecast.unspent_at_end, forecast.exhausts_before_end) == (None, False)


def test_a_revenue_share_without_a_schedule_projects_until_its_money_runs_out():
    forecast = forecast_fund(archetype=SHARE, total_minor=1_000_00, rollover_unspent=True, tranches=[],
                             spend_by_month={month(1): 300_00}, as_of=month(2))
    assert [(r.month, r.spent) for r in forecast.months] == [
        (month(1), 300_00), (month(2), 300_00), (month(3), 300_00), (month(4), 100_00)]
    assert (forecast.runs_out_on, forecast.runs_short_on, forecast.ends_on) == (month(4), month(4), None)
    assert (forecast.exhausts_before_end, forecast.unspent_at_end) == (False, None)  # no schedule to end before


def test_a_gap_between_tranches_has_no_run_and_the_schedule_resumes_after_it():
    forecast = forecast_fund(
        archetype=POOLED, total_minor=2_000_00, rollover_unspent=False,
        tranches=[tranche(month(1), month(1), 1_000_00), tranche(month(3), month(3), 1_000_00)],
        spend_by_month={}, as_of=month(1))
    assert [(r.month.month, r.release, r.spent) for r in forecast.months] == [
        (1, 1_000_00, 1_000_00), (2, 0, 0), (3, 1_000_00, 1_000_00)]
    assert [(s.starts_on, s.amount_minor) for s in forecast.remaining_schedule] == [(month(3), 1_000_00)]


def test_a_pooled_fund_whose_latest_run_was_held_back_by_the_cap_spends_no_more_than_that_run():
    tranches = [tranche(month(1), month(4), 4_000_00)]
    capped = forecast_fund(archetype=POOLED, total_minor=4_000_00, rollover_unspent=True, tranches=tranches,
                           spend_by_month={month(1): 300_00}, budget_by_month={month(1): 1_000_00}, as_of=month(2))
    # Every member at the cap took 300.00 of a 1,000.00 pool: February-April take 300.00 each, 2,800.00 rolls over.
    assert [r.spent for r in capped.months] == [300_00, 300_00, 300_00, 300_00]
    assert (capped.pooled_ceiling, capped.unspent_at_end, capped.unspent_policy) == (300_00, 2_800_00, ROLLS_OVER)
    full = forecast_fund(archetype=POOLED, total_minor=4_000_00, rollover_unspent=True, tranches=tranches,
                         spend_by_month={month(1): 1_000_00}, budget_by_month={month(1): 1_000_00}, as_of=month(2))
    assert full.pooled_ceiling is None  # it spent its whole pool: the release paces it
    assert [r.spent for r in full.months] == [1_000_00] * 4


@st.composite
def funds(draw):
    """A fund with one to three tranches over 2026-2027, a total above or below them, and actual runs that keep
    payouts.funds' rule (each spends at most what its month may spend) for some of its first months."""
    tranches = []
    for _ in range(draw(st.integers(1, 3))):
        first = add_months(month(1), draw(st.integers(0, 20)))
        tranches.append(tranche(first, add_months(first, draw(st.integers(0, 12))), draw(st.integers(0, 10**9))))
    scheduled = sum(t.amount_minor for t in tranches)
    total = max(0, scheduled + draw(st.integers(-scheduled // 2, 10**6)))
    archetype = draw(st.sampled_from([POOLED, RATE, SHARE, Program.Archetype.GRANT]))
    rollover = draw(st.booleans())
    whole_total = archetype == SHARE
    first = min(t.starts_on for t in tranches)
    spend, budgets, released, spent = {}, {}, 0, 0
    for index in range(draw(st.integers(0, 24))):
        current = add_months(first, index)
        release = month_release(tranches, current)
        released += release or 0
        if release is None and not whole_total:
            continue
        may = (total if whole_total else min(released, total)) - spent
        if not rollover and not whole_total:
            may = min(may, release or 0)
        may = max(0, may)
        spend[current] = draw(st.integers(0, may))
        budgets[current] = may
        spent += spend[current]
    share = Decimal(draw(st.integers(0, 1_000_000))) / 1_000_000
    as_of = add_months(month(1), draw(st.integers(0, 36)))
    return dict(archetype=archetype, total_minor=total, rollover_unspent=rollover, tranches=tranches,
                spend_by_month=spend, budget_by_month=budgets, as_of=as_of, pool_share=share)


@settings(max_examples=300, deadline=None)
@given(funds())
def test_the_forecast_keeps_the_funds_rule_and_accounts_for_every_cent(fund):
    forecast = forecast_fund(**fund)
    total, whole_total = fund["total_minor"], fund["archetype"] == SHARE
    spent = 0
    for row in forecast.months:
        spent += row.spent
        assert row.spent >= 0
        assert row.spent_to_date == spent
        assert row.remaining == total - spent >= 0
        assert row.spent_to_date <= row.released_to_date <= total  # spent to date ≤ released to date ≤ total
        if row.projected and not fund["rollover_unspent"] and not whole_total:
            assert row.spent <= (month_release(fund["tranches"], row.month) or 0)  # never more than its own release
        if not row.projected:
            assert row.spent == fund["spend_by_month"].get(row.month, 0)  # the actual runs, unchanged
    assert forecast.spent_so_far == sum(fund["spend_by_month"].values())
    if not whole_total:
        assert sum(row.release for row in forecast.months) == min(total, sum(t.amount_minor for t in fund["tranches"]))
        assert forecast.released_so_far + forecast.to_be_released == min(total,
                                                                         sum(t.amount_minor for t in fund["tranches"]))
        if total >= sum(t.amount_minor for t in fund["tranches"]):
            assert sum(s.amount_minor for s in forecast.remaining_schedule) == forecast.to_be_released
    if forecast.unspent_at_end is not None and forecast.unspent_policy == LAPSES and not whole_total:
        # What lapses month by month is what is left unspent at the end, but for a month that spent past its share
        # of a total its tranches exceed (payouts.funds lets it: released to date counts only up to the total).
        past_release = sum(max(0, row.spent - row.release) for row in forecast.months)
        assert forecast.unspent_at_end == sum(row.lapsed for row in forecast.months) - past_release
    if forecast.exhausts_before_end:
        assert forecast.first_projected is not None
        assert forecast.first_projected.month <= forecast.runs_short_on <= forecast.ends_on
