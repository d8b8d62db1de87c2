"""The admin's front page: what it shows, to whom, in a bounded number of queries."""

import datetime as dt

import pytest

from ingestion.models import ImportJob
from payouts import dashboard
from payouts.services.runs import payout_run_compute
from tests.partnerships.factories import EnrolmentFactory, ProgramFactory, UserFactory
from tests.payouts.factories import MONTH, member, paying_program

pytestmark = pytest.mark.django_db


def test_projection_divides_what_is_left_by_the_pace_of_the_last_three_runs():
    pace, runs_out, text = dashboard._projection(25_000, [10_000, 10_000, 10_000], dt.date(2026, 10, 1), "USD")
    assert (pace, runs_out) == ("100.00 USD", dt.date(2027, 1, 1))  # 2.5 months left: January cannot be paid in full
    assert text == "At 100.00 USD a month (the last 3 runs), it runs out in January 2027."
    assert dashboard._projection(0, [5], dt.date(2026, 10, 1), "USD")[2] == "The fund is spent."
    assert dashboard._projection(100, [], None, "USD")[1] is None


def test_fund_summary_spends_by_month_and_projects(django_assert_max_num_queries):
    program = paying_program(month_budget=10_000_00, months=3, fund_total=40_000_00)
    member(program, handle="a", views=1_000_000)
    payout_run_compute(program_id=program.pk, month=MONTH)
    for _ in range(3):  # more funds cost no more queries
        paying_program()
    with django_assert_max_num_queries(3):
        summaries = dashboard.fund_summaries()
    summary = next(s for s in summaries if s.fund.program_id == program.pk)
    assert [(m["month"], m["budget"], m["spent"]) for m in summary.months] == [
        (MONTH, 10_000_00, 10_000_00), (dt.date(2026, 9, 1), 10_000_00, 0), (dt.date(2026, 10, 1), 10_000_00, 0)]
    assert (summary.remaining_minor, summary.runs_out) == (30_000_00, dt.date(2026, 11, 1))
    assert "<svg" in summary.chart


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
