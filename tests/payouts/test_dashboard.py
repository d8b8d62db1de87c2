"""The admin's front page: what it shows, to whom, in a bounded number of queries."""

import datetime as dt
from decimal import Decimal

import pytest

from ingestion.models import ImportJob
from partnerships.models import Program
from payouts import dashboard
from payouts.services.runs import payout_run_compute
from tests.partnerships.factories import EnrolmentFactory, ProgramFactory, UserFactory
from tests.payouts.factories import MONTH, member, paying_program, revenue

pytestmark = pytest.mark.django_db


def test_fund_summary_spends_by_month_and_projects_the_schedule(django_assert_max_num_queries):
    program = paying_program(month_budget=10_000_00, months=3, fund_total=40_000_00)
    member(program, handle="a", views=1_000_000)
    payout_run_compute(program_id=program.pk, month=MONTH)
    for _ in range(3):  # more funds cost no more queries
        paying_program()
    with django_assert_max_num_queries(3):
        summaries = dashboard.fund_summaries(today=dt.date(2026, 9, 10))
    summary = next(s for s in summaries if s.fund.program_id == program.pk)
    # A pooled fund spends each month's release: September and October are projected to spend theirs.
    assert [(m["month"], m["budget"], m["spent"], m["projected"]) for m in summary.months] == [
        (MONTH, 10_000_00, 10_000_00, False), (dt.date(2026, 9, 1), 10_000_00, 10_000_00, True),
        (dt.date(2026, 10, 1), 10_000_00, 10_000_00, True)]
    assert (summary.remaining_minor, summary.runs_out, summary.warning) == (30_000_00, None, None)
    assert summary.schedule == ("Released so far 20,000.00 USD (to September 2026), 10,000.00 USD still to come: "
                                "10,000.00 USD from Oct 2026 to Oct 2026 (10,000.00 USD a month); 10,000.00 USD of "
                                "the total is in no tranche.")
    assert summary.pace == "Pace: a pooled fund spends what each month may spend."
    assert summary.projection == "At this pace every release is spent by 31 October 2026, when its schedule ends."
    assert "<svg" in summary.chart
    assert "polyline" in summary.chart


def _revenue_share_fund(total: int):
    """A revenue share paying 500.00 a month in August-October 2026, its schedule ending in December."""
    program = paying_program(Program.Archetype.REVENUE_SHARE, month_budget=total // 5, months=5, fund_total=total,
                             revenue_share_rate=Decimal("0.5"))
    partner = member(program, handle="earner")
    for month in (MONTH, dt.date(2026, 9, 1), dt.date(2026, 10, 1)):
        revenue(partner, 1_000_00, day=month.replace(day=10))
        payout_run_compute(program_id=program.pk, month=month)
    return program


def test_a_fund_whose_pace_ends_with_its_schedule_gets_no_warning():
    program = _revenue_share_fund(2_500_00)
    summary = next(s for s in dashboard.fund_summaries(today=dt.date(2026, 11, 5)) if s.fund.program_id == program.pk)
    assert [(m["spent"], m["projected"]) for m in summary.months] == [
        (500_00, False), (500_00, False), (500_00, False), (500_00, True), (500_00, True)]
    assert summary.warning is None
    assert summary.pace == "Pace: the trend of its last 3 runs, 500.00 USD in November 2026."
    assert summary.projection == "At this pace it runs out in December 2026, as its schedule ends: nothing is left " \
                                 "unspent."


def test_a_fund_whose_pace_exhausts_it_before_its_schedule_ends_warns_on_the_page(client):
    program = _revenue_share_fund(2_000_00)
    summary = next(s for s in dashboard.fund_summaries(today=dt.date(2026, 11, 5)) if s.fund.program_id == program.pk)
    assert [(m["spent"], m["projected"]) for m in summary.months][-2:] == [(500_00, True), (0, True)]
    assert summary.warning == ("At this pace the fund runs short in December 2026, the last month of its schedule: "
                               "that month's run cannot be paid in full.")
    client.force_login(UserFactory(username="root", is_superuser=True))
    html = client.get("/admin/").content.decode()
    assert 'class="forecast-warning" role="alert"' in html
    assert "runs short in December 2026" in html
    assert "Dec 2026 <span class=\"muted\">(projected)</span>" in html  # the table beside the chart


def test_payouts_by_country_for_the_latest_closed_month():
    program = paying_program()
    member(program, handle="us", views=3_000_000, country="US")
    member(program, handle="fr", views=1_000_000, country="FR")
    payout_run_compute(program_id=program.pk, month=MONTH)
    assert dashboard.latest_closed_month() == MONTH
    countries = dashboard.payouts_by_country(MONTH)
    assert [(r["country"], r["gross"]) for r in countries["rows"]] == [("US", "7,500.00 USD"),
                                                                       ("FR", "2,500.00 USD")]


def test_each_part_is_shown_only_to_those_who_may_see_it(manager, finance):
    EnrolmentFactory(program=ProgramFactory(name="Grants"))
    ImportJob.objects.create(kind=ImportJob.Kind.METRICS, status=ImportJob.Status.FAILED, source_name="m.csv")
    assert set(dashboard.dashboard(UserFactory(username="nobody"))) == set()
    assert "applications" in dashboard.dashboard(manager)
    root = dashboard.dashboard(UserFactory(username="root", is_superuser=True))
    assert set(root) == {"applications", "runs", "funds", "countries", "imports"}
    assert root["applications"][0]["waiting"] == 1
    assert root["imports"]["count"] == 1
    assert "funds" in dashboard.dashboard(finance) or not finance.has_perm("payouts.view_fund")


def test_the_admin_index_renders_the_dashboard_above_the_apps(client, django_assert_max_num_queries):
    client.force_login(UserFactory(username="root", is_superuser=True))
    paying_program()
    with django_assert_max_num_queries(16):
        response = client.get("/admin/")
    html = response.content.decode()
    assert html.index('id="panel-funds"') < html.index("app-payouts")


def test_a_lapsing_fund_shows_what_lapses_each_month_in_the_table_beside_its_chart(client):
    program = paying_program(month_budget=10_000_00, months=3, fund_total=30_000_00, rollover=False)
    member(program, handle="capped", views=1_000_000)
    payout_run_compute(program_id=program.pk, month=MONTH)
    program.terms.pool_share = Decimal("0.5")
    program.terms.save()
    summary = next(s for s in dashboard.fund_summaries(today=dt.date(2026, 9, 10)) if s.fund.program_id == program.pk)
    # August (pool share 1) spent all 10,000; September and October pay half their release: 5,000 lapse in each.
    assert [(m["spent"], m["lapsed"], m["projected"]) for m in summary.months] == [
        (10_000_00, 0, False), (5_000_00, 5_000_00, True), (5_000_00, 5_000_00, True)]
    assert summary.shows_lapses
    assert summary.pace == "Pace: a pooled fund spends what each month may spend, paying its pool share of 50%."
    assert summary.projection == ("At this pace 10,000.00 USD of its release lapses unspent by 31 October 2026, when "
                                  "its schedule ends (10,000.00 USD of it in months still to come).")
    client.force_login(UserFactory(username="root", is_superuser=True))
    html = client.get("/admin/").content.decode()
    assert '<th scope="col" class="num">Lapsed, USD</th>' in html
    assert html.count("<td class=\"num\">5,000.00</td>") == 4  # September and October: spent 5,000, lapsed 5,000
