"""The year-end export: gross, withheld and net per partner, program and income type, for the runs approved in the
year; the same CSV from the admin page and the tax_year_export command."""

import csv
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from partnerships.models import Enrolment, Program
from payouts.models import IncomeType
from payouts.roles import ensure_group_permissions
from payouts.services.settlement import payout_run_approve, payout_run_mark_paid
from payouts.tax_year import HEADER, parse_year, tax_year_figures
from tests.partnerships.factories import DailyMetricFactory, EnrolmentFactory
from tests.payouts.factories import BEFORE, member, paying_program
from tests.payouts.tax.helpers import F, compute, profile, treaty

pytestmark = pytest.mark.django_db
SEPTEMBER = dt.date(2026, 9, 1)


@pytest.fixture
def two_programs(approver):
    """@ana (W-8BEN, Germany) earns in a pooled fund paying royalties (treaty 15%) in August and September, and a
    grant of 1,000.00 USD a month (other income, no treaty row: statutory 30%); @ben (no profile, flat 24%) only in
    the pooled fund. The pooled fund's September run is computed, never approved: it does not count."""
    royalties = paying_program(months=2, income_type=IncomeType.ROYALTIES, withholding_rate="0.24")
    grant = paying_program(Program.Archetype.GRANT, grant_monthly_minor=1_000_00, income_type=IncomeType.OTHER,
                           statutory_withholding_rate="0.30")
    ana = member(royalties, handle="ana", views=3)
    ben = member(royalties, handle="ben", views=1)
    EnrolmentFactory(partner=ana, program=grant, status=Enrolment.Status.APPROVED, approved_at=BEFORE)
    profile(ana, F.W8BEN, country="DE")
    treaty("DE", IncomeType.ROYALTIES, "0.15")
    DailyMetricFactory(partner=ana, day=dt.date(2026, 9, 10), views=1, qualified_views=1)
    august = compute(royalties)
    payout_run_approve(run_id=august.pk, actor=approver)
    payout_run_mark_paid(run_id=august.pk, actor=approver, reference="AUG")
    payout_run_approve(run_id=compute(grant).pk, actor=approver)
    compute(royalties, SEPTEMBER)  # computed only
    return ana, ben


def test_a_partner_with_two_programs_gets_a_row_per_program_and_income_type(two_programs):
    rows = {(row.handle, row.income_type): row for row in tax_year_figures(2026)}
    assert set(rows) == {("ana", "royalties"), ("ana", "other"), ("ben", "royalties")}
    royalties, grant, ben = rows["ana", "royalties"], rows["ana", "other"], rows["ben", "royalties"]
    # August's pool of 10,000.00 USD: ana 3 of 4 views = 7,500.00 at 15%; ben 2,500.00 at 24%
    assert (royalties.gross_minor, royalties.withheld_minor, royalties.net_minor) == (7_500_00, 1_125_00, 6_375_00)
    assert (royalties.form_type, royalties.residence_country, royalties.rates_applied) == ("W-8BEN", "DE", "15%")
    assert (grant.gross_minor, grant.withheld_minor, grant.net_minor, grant.rates_applied) == (
        1_000_00, 300_00, 700_00, "30%")
    assert (ben.gross_minor, ben.withheld_minor, ben.form_type, ben.rates_applied) == (2_500_00, 600_00, "", "24%")
    assert grant.program != royalties.program


def test_another_year_has_no_rows(two_programs):
    assert tax_year_figures(2025) == []


def test_the_command_writes_the_csv(two_programs):
    out = io.StringIO()
    call_command("tax_year_export", "--year", "2026", stdout=out, stderr=io.StringIO())
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == HEADER
    ana = {row[7]: row for row in rows[1:] if row[0] == "ana"}
    assert ana["Royalties"][6:12] == ["USD", "Royalties", "7500.00", "1125.00", "6375.00", "15%"]
    assert ana["Other income"][8:11] == ["1000.00", "300.00", "700.00"]


@pytest.mark.parametrize("year", ["26", "2026.0", "1999", "２０２６", "abc"])
def test_a_bad_year_is_refused_with_the_range(year):
    with pytest.raises(CommandError, match="from 2000 to 2100"):
        call_command("tax_year_export", "--year", year, stdout=io.StringIO())
    with pytest.raises(ValueError, match="from 2000 to 2100"):
        parse_year(year)


def test_finance_downloads_it_from_the_admin_and_a_manager_may_not(client, two_programs, finance, manager):
    ensure_group_permissions()
    url = reverse("admin:payouts_taxprofile_year_export")
    client.force_login(finance)
    assert "Year-end tax export" in client.get(reverse("admin:payouts_taxprofile_changelist")).content.decode()
    response = client.get(url, {"year": "2026"})
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0] == ",".join(HEADER)
    assert len(body.splitlines()) == 4
    assert client.get(url, {"year": "20260"}).status_code == 200  # the form again, with its error
    client.force_login(manager)
    assert client.get(url, {"year": "2026"}).status_code == 403
