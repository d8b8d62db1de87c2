"""A rate-per-1,000-views month, and a month-to-date estimate, computed from the videos' monthly rollups (issue 18)
give the lines the daily rows give, for random videos (views in the month, in the months before it that count
towards the activation floor, after the month, and, for an estimate, after its last day), durations, posting dates,
floors, video and partner caps, budgets that scale everyone, and suspensions (hypothesis)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from partnerships.models import Enrolment, EnrolmentSuspension, Program
from payouts.formulas import rate_per_mille
from payouts.models import EarningLine, PayoutRun, Video, VideoDailyViews, VideoMonthlyViews
from payouts.months import program_today
from payouts.services.runs import payout_run_compute
from tests.partnerships.factories import EnrolmentFactory, PartnerFactory, ProgramFactory
from tests.payouts.factories import BEFORE, MONTH, FundFactory, TermsFactory, TrancheFactory, paying_program

PROFILE = settings(max_examples=20, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RATES = {"US": "0.80", "*": "0.40"}
LINE_FIELDS = ("partner_id", "basis", "basis_value", "basis_total", "weight", "gross_minor", "capped",
               "rounding_minor", "remainder", "net_minor", "status", "hold_reason", "note")
# Offsets in days from the month's first day: two months before, the month, after.
# Daily views near the activation floors below, and a few large days.
VIEWS = st.dictionaries(st.integers(-65, 35), st.integers(0, 3_000) | st.integers(0, 300_000), min_size=1,
                        max_size=10)
# Views, duration (a minute or less does not earn), posted after the approval (before it does not earn).
VIDEO = st.tuples(VIEWS, st.sampled_from([45, 60, 61, 300, 600]), st.sampled_from([True, True, True, False]))
SUSPENSION = st.none() | st.tuples(st.integers(-70, 35), st.none() | st.integers(-70, 40))
MEMBERS = st.lists(st.tuples(st.lists(VIDEO, min_size=1, max_size=4), st.sampled_from(["US", "FR"]), SUSPENSION),
                   min_size=1, max_size=4)
TERMS = st.fixed_dictionaries({
    "min_video_qualified_views": st.integers(0, 6_000) | st.integers(0, 600_000),
    "video_cap_minor": st.none() | st.integers(1, 200_00),
    "partner_cap_minor": st.none() | st.integers(1, 400_00),
})
BUDGET = st.integers(1, 1_000_00) | st.just(1_000_000_00)  # small budgets scale everyone to the budget
NO_CAPS = {"min_video_qualified_views": 2_000, "video_cap_minor": None, "partner_cap_minor": None}
# The cases the rollups must get right, always tried: a floor reached only with the views of earlier months, a
# video past the floor without views this month (it still counts as eligible), a suspension in an earlier month
# (its days count towards no floor), views after the estimate's last day.
PAST_FLOOR_EARLIER = [([({-20: 3_000, 5: 1_000}, 300, True), ({6: 500}, 300, True), ({-40: 2_500}, 90, True)],
                       "US", None)]
SUSPENDED_EARLIER = [([({-20: 3_000, 5: 1_000}, 300, True)], "US", (-25, -10)),
                     ([({-20: 3_000, 5: 1_000}, 300, True)], "FR", None)]
AFTER_TODAY = [([({0: 2_500, 29: 5_000}, 300, True), ({-10: 2_500, 30: 700}, 300, True)], "US", None)]
_ids = itertools.count()


def lines(run: PayoutRun) -> list[tuple]:
    return list(EarningLine.objects.filter(run=run).order_by("partner_id").values_list(*LINE_FIELDS))


def members_with_videos(programs, members, origin: dt.date, approved_at: dt.datetime) -> None:
    """The same partners as members of each program, with their videos, daily views and suspensions."""
    for videos, country, suspension in members:
        partner = PartnerFactory(country=country)
        for program in programs:
            enrolment = EnrolmentFactory(partner=partner, program=program, status=Enrolment.Status.APPROVED,
                                         approved_at=approved_at)
            if suspension is not None:
                starts, ends = suspension
                EnrolmentSuspension.objects.create(
                    enrolment=enrolment, starts_on=origin + dt.timedelta(days=starts),
                    ends_on=None if ends is None else origin + dt.timedelta(days=ends))
        for views, duration, after_approval in videos:
            posted = approved_at + dt.timedelta(days=1 if after_approval else -1)
            video = Video.objects.create(partner=partner, external_id=f"month-{next(_ids)}", posted_at=posted,
                                         duration_seconds=duration)
            VideoDailyViews.objects.bulk_create([
                VideoDailyViews(video=video, day=origin + dt.timedelta(days=offset), qualified_views=count)
                for offset, count in views.items()])


def computed(program: Program, month: dt.date, kind=PayoutRun.Kind.FINAL) -> PayoutRun:
    run = payout_run_compute(program_id=program.pk, month=month, kind=kind)
    assert run.status == PayoutRun.Status.COMPUTED, run.error
    return run


@pytest.mark.django_db
@PROFILE
@given(members=MEMBERS, terms=TERMS, budget=BUDGET)
@example(members=PAST_FLOOR_EARLIER, terms=NO_CAPS, budget=1_000_000_00)
@example(members=SUSPENDED_EARLIER, terms=NO_CAPS, budget=1_000_000_00)
def test_a_month_from_rollups_gives_the_lines_of_the_daily_rows(monkeypatch, members, terms, budget):
    Video.objects.all().delete()
    from_rollups, from_days = (paying_program(Program.Archetype.RATE_PER_MILLE, month_budget=budget,
                                              rpm_by_country=RATES, **terms) for _ in range(2))
    members_with_videos((from_rollups, from_days), members, MONTH, BEFORE)

    rolled = computed(from_rollups, MONTH)
    with monkeypatch.context() as patched:  # undone at once: the next example reads the rollups again
        patched.setattr(rate_per_mille, "READ_ROLLUPS", False)
        daily = computed(from_days, MONTH)

    assert lines(rolled) == lines(daily)
    assert (rolled.total_gross_minor, rolled.budget_minor) == (daily.total_gross_minor, daily.budget_minor)


def funded_this_month(budget: int, **terms) -> Program:
    program = ProgramFactory(archetype=Program.Archetype.RATE_PER_MILLE)
    month = program_today(program).replace(day=1)
    fund = FundFactory(program=program, total_minor=100_000_000_00)
    TrancheFactory(fund=fund, starts_on=month, ends_on=month, amount_minor=budget)
    TermsFactory(program=program, rpm_by_country=RATES, **terms)
    return program


@pytest.mark.django_db
@PROFILE
@given(members=MEMBERS, terms=TERMS, budget=BUDGET)
@example(members=AFTER_TODAY, terms=NO_CAPS, budget=1_000_000_00)
@example(members=SUSPENDED_EARLIER, terms=NO_CAPS, budget=1_000_000_00)
def test_an_estimate_from_rollups_gives_the_lines_of_the_daily_rows(monkeypatch, members, terms, budget):
    Video.objects.all().delete()
    from_rollups, from_days = funded_this_month(budget, **terms), funded_this_month(budget, **terms)
    today = program_today(from_rollups)
    approved = dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC) - dt.timedelta(days=80)
    # Offsets from the month's first day: its days up to today, and after it (the rollup holds them, the estimate
    # must not count them).
    members_with_videos((from_rollups, from_days), members, today.replace(day=1), approved)

    rolled = computed(from_rollups, today.replace(day=1), PayoutRun.Kind.ESTIMATE)
    with monkeypatch.context() as patched:  # undone at once: the next example reads the rollups again
        patched.setattr(rate_per_mille, "READ_ROLLUPS", False)
        daily = computed(from_days, today.replace(day=1), PayoutRun.Kind.ESTIMATE)

    assert rolled.as_of == daily.as_of == today
    assert lines(rolled) == lines(daily)
    assert rolled.total_gross_minor == daily.total_gross_minor


@pytest.mark.django_db
def test_the_month_reads_the_rollups(monkeypatch):
    # given: a video whose daily rows say 10,000 views in the month; its rollup is damaged to say 20,000
    program, other = (paying_program(Program.Archetype.RATE_PER_MILLE, month_budget=1_000_000_00,
                                     rpm_by_country=RATES) for _ in range(2))
    members_with_videos((program, other), [([({14: 10_000}, 90, True)], "US", None)], MONTH, BEFORE)
    VideoMonthlyViews.objects.update(qualified_views=20_000)

    # when / then: the month reads the rollup, the daily path the rows (this is why the rollups are property-tested)
    assert EarningLine.objects.get(run=computed(program, MONTH)).basis_value == 20_000
    monkeypatch.setattr(rate_per_mille, "READ_ROLLUPS", False)
    assert EarningLine.objects.get(run=computed(other, MONTH)).basis_value == 10_000
