"""A month-to-date estimate computed from the monthly rollups (issue 18) gives the lines and screening flags the
daily rows give, for random members, views (also on days after the estimate's last day, which the rollup holds
but the estimate must not count), caps, thresholds and suspensions during the month (hypothesis)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerships.models import DailyMetric, Enrolment, EnrolmentSuspension, Program
from payouts.formulas import pooled
from payouts.models import EarningLine, PayoutRun, ProgramTerms, ScreeningFlag
from payouts.months import program_today
from payouts.services.runs import payout_run_compute
from tests.partnerships.factories import DailyMetricFactory, EnrolmentFactory, PartnerFactory, ProgramFactory
from tests.payouts.factories import FundFactory, TermsFactory, TrancheFactory

PROFILE = settings(max_examples=12, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
LINE_FIELDS = ("partner_id", "basis", "basis_value", "basis_total", "weight", "gross_minor", "capped",
               "rounding_minor", "remainder", "net_minor", "status", "hold_reason", "note")
# Offsets from the estimate's last day (today): before the month, in it up to today, and after today.
DAY = st.integers(min_value=-35, max_value=30)
VIEWS = st.dictionaries(DAY, st.integers(0, 5_000_000), max_size=8)
SUSPENSION = st.none() | st.tuples(st.integers(-35, 30), st.none() | st.integers(-35, 35))
MEMBERS = st.lists(st.tuples(VIEWS, SUSPENSION), min_size=1, max_size=6)
APPROVED = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def lines(run: PayoutRun) -> list[tuple]:
    return list(EarningLine.objects.filter(run=run).order_by("partner_id").values_list(*LINE_FIELDS))


def flags(run: PayoutRun) -> list[tuple]:
    return list(ScreeningFlag.objects.filter(run=run).order_by("partner_id", "rule").values_list(
        "partner_id", "rule", "evidence"))


def funded_this_month(**terms) -> Program:
    program = ProgramFactory(archetype=Program.Archetype.POOLED_FUND)
    month = program_today(program).replace(day=1)
    fund = FundFactory(program=program, total_minor=100_000_000_00)
    TrancheFactory(fund=fund, starts_on=month, ends_on=month, amount_minor=10_000_00)
    TermsFactory(program=program, **terms)
    return program


def estimate(program: Program) -> PayoutRun:
    run = payout_run_compute(program_id=program.pk, month=program_today(program).replace(day=1),
                             kind=PayoutRun.Kind.ESTIMATE)
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    return run


@pytest.mark.django_db
@PROFILE
@given(members=MEMBERS, min_views=st.integers(0, 3_000_000), cap=st.none() | st.integers(1, 8_000_00),
       retain=st.booleans())
def test_an_estimate_from_rollups_gives_the_lines_of_the_daily_rows(monkeypatch, members, min_views, cap, retain):
    DailyMetric.objects.all().delete()
    policy = ProgramTerms.ExcessPolicy.RETAIN if retain else ProgramTerms.ExcessPolicy.REDISTRIBUTE
    from_rollups = funded_this_month(min_views=min_views, partner_cap_minor=cap, excess_policy=policy)
    from_days = funded_this_month(min_views=min_views, partner_cap_minor=cap, excess_policy=policy)
    today = program_today(from_rollups)
    for views, suspension in members:
        partner = PartnerFactory()
        for program in (from_rollups, from_days):
            enrolment = EnrolmentFactory(partner=partner, program=program, status=Enrolment.Status.APPROVED,
                                         approved_at=APPROVED)
            if suspension is not None:
                starts, ends = suspension
                EnrolmentSuspension.objects.create(
                    enrolment=enrolment, starts_on=today + dt.timedelta(days=starts),
                    ends_on=None if ends is None else today + dt.timedelta(days=ends))
        for offset, count in views.items():
            DailyMetricFactory(partner=partner, day=today + dt.timedelta(days=offset), views=count,
                               qualified_views=count // 2 + count % 2, likes=count // 100)

    rolled = estimate(from_rollups)
    with monkeypatch.context() as patched:  # undone at once: the next example reads the rollups again
        patched.setattr(pooled, "READ_ROLLUPS", False)
        daily = estimate(from_days)

    assert rolled.as_of == daily.as_of == today
    assert lines(rolled) == lines(daily)
    assert flags(rolled) == flags(daily)
    assert rolled.total_gross_minor == daily.total_gross_minor


@pytest.mark.django_db
def test_an_estimate_reads_the_rollups_of_members_without_later_rows(monkeypatch):
    # given: two members whose daily rows say 10 views up to today; their rollups are damaged to say 30, and one
    # of them also has a row for tomorrow (the pipeline may send it)
    program = funded_this_month()
    today = program_today(program)
    if today.day == 1 or today == (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(1):
        pytest.skip("needs a day before today and one after it in this month")
    partners = [PartnerFactory(), PartnerFactory()]
    for partner in partners:
        EnrolmentFactory(partner=partner, program=program, status=Enrolment.Status.APPROVED, approved_at=APPROVED)
        DailyMetricFactory(partner=partner, day=today - dt.timedelta(days=1), views=10, qualified_views=10)
    DailyMetricFactory(partner=partners[1], day=today + dt.timedelta(days=1), views=5, qualified_views=5)
    from partnerships.models import MonthlyMetricRollup
    MonthlyMetricRollup.objects.filter(partner__in=partners).update(qualified_views=30)

    # then: the one without a later row is read from her rollup, the other from her rows up to today
    run = estimate(program)
    assert dict(EarningLine.objects.filter(run=run).values_list("partner_id", "basis_value")) == {
        partners[0].pk: 30, partners[1].pk: 10}
