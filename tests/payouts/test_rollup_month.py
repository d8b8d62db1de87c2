"""A pooled month computed from the monthly rollups (issue 18) gives the lines and screening flags the daily rows
give, for random members, views, caps, thresholds and suspensions during the month (hypothesis)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerships.models import DailyMetric, Enrolment, EnrolmentSuspension, MonthlyMetricRollup
from payouts.formulas import pooled
from payouts.models import EarningLine, PayoutRun, ProgramTerms, ScreeningFlag
from payouts.services.runs import payout_run_compute
from tests.partnerships.factories import DailyMetricFactory, EnrolmentFactory, PartnerFactory
from tests.payouts.factories import BEFORE, MONTH, paying_program

PROFILE = settings(max_examples=12, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# Days around the month: its own, and a few either side that must not count.
DAY = st.integers(min_value=-3, max_value=33).map(lambda offset: MONTH + dt.timedelta(days=offset))
VIEWS = st.dictionaries(DAY, st.integers(0, 5_000_000), max_size=8)
SUSPENSION = st.none() | st.tuples(st.integers(-5, 35), st.none() | st.integers(-5, 40))
MEMBERS = st.lists(st.tuples(VIEWS, SUSPENSION), min_size=1, max_size=6)
LINE_FIELDS = ("partner_id", "basis", "basis_value", "basis_total", "weight", "gross_minor", "capped",
               "rounding_minor", "remainder", "net_minor", "status", "hold_reason", "note")


def lines(run: PayoutRun) -> list[tuple]:
    return list(EarningLine.objects.filter(run=run).order_by("partner_id").values_list(*LINE_FIELDS))


def flags(run: PayoutRun) -> list[tuple]:
    return list(ScreeningFlag.objects.filter(run=run).order_by("partner_id", "rule").values_list(
        "partner_id", "rule", "evidence"))


def twin_programs(**terms):
    """Two programs with the same terms and budget, whose members will be the same partners."""
    return paying_program(**terms), paying_program(**terms)


@pytest.mark.django_db
@PROFILE
@given(members=MEMBERS, min_views=st.integers(0, 3_000_000),
       cap=st.none() | st.integers(1, 8_000_00),
       retain=st.booleans())
def test_a_month_from_rollups_gives_the_lines_of_the_daily_rows(monkeypatch, members, min_views, cap, retain):
    DailyMetric.objects.all().delete()
    policy = ProgramTerms.ExcessPolicy.RETAIN if retain else ProgramTerms.ExcessPolicy.REDISTRIBUTE
    from_rollups, from_days = twin_programs(min_views=min_views, partner_cap_minor=cap, excess_policy=policy)
    for views, suspension in members:
        partner = PartnerFactory()
        for program in (from_rollups, from_days):
            enrolment = EnrolmentFactory(partner=partner, program=program, status=Enrolment.Status.APPROVED,
                                         approved_at=BEFORE)
            if suspension is not None:
                starts, ends = suspension
                EnrolmentSuspension.objects.create(
                    enrolment=enrolment, starts_on=MONTH + dt.timedelta(days=starts),
                    ends_on=None if ends is None else MONTH + dt.timedelta(days=ends))
        for day, count in views.items():
            DailyMetricFactory(partner=partner, day=day, views=count, qualified_views=count // 2 + count % 2,
                               likes=count // 100)
    assert MonthlyMetricRollup.objects.filter(month=MONTH).count() == len(
        {partner for partner, day in DailyMetric.objects.filter(day__month=MONTH.month).values_list(
            "partner_id", "day")})

    rolled = payout_run_compute(program_id=from_rollups.pk, month=MONTH)
    with monkeypatch.context() as patched:  # undone at once: the next example reads the rollups again
        patched.setattr(pooled, "READ_ROLLUPS", False)
        daily = payout_run_compute(program_id=from_days.pk, month=MONTH)

    assert rolled.status == daily.status == PayoutRun.Status.COMPUTED, (rolled.error, daily.error)
    assert lines(rolled) == lines(daily)
    assert flags(rolled) == flags(daily)
    assert (rolled.total_gross_minor, rolled.budget_minor) == (daily.total_gross_minor, daily.budget_minor)


@pytest.mark.django_db
def test_the_month_reads_the_rollups(monkeypatch):
    # given: one member whose daily rows say 10 views; her rollup is damaged to say 30
    program, other = twin_programs()
    partner = PartnerFactory()
    for each in (program, other):
        EnrolmentFactory(partner=partner, program=each, status=Enrolment.Status.APPROVED, approved_at=BEFORE)
    DailyMetricFactory(partner=partner, day=MONTH.replace(day=3), views=10, qualified_views=10)
    MonthlyMetricRollup.objects.filter(partner=partner).update(qualified_views=30)

    # when / then: the month reads the rollup, the daily path the rows (this is why the rollups are property-tested)
    assert EarningLine.objects.get(run=payout_run_compute(program_id=program.pk, month=MONTH)).basis_value == 30
    monkeypatch.setattr(pooled, "READ_ROLLUPS", False)
    assert EarningLine.objects.get(run=payout_run_compute(program_id=other.pk, month=MONTH)).basis_value == 10
