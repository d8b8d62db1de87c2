"""Closed months and stale runs (payouts.closed_months).

Ad revenue of a month closed for the partner's revenue-share program (in that currency) is refused on every path,
with the same definition and the same words as daily metrics. Inputs that change a month whose run is computed but
not yet approved make that run stale, with a reason saying what changed — only runs of programs that read that
input, for that month, with a loaded partner among their members."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from ingestion import guards
from ingestion.engine import merge
from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from partnerships.ingest_metrics import daily_metrics_ingest
from partnerships.models import DailyMetric, Program
from payouts.closed_months import AdRevenueAdminForm, payout_runs_mark_stale_after_load
from payouts.exceptions import MONTH_CLOSED
from payouts.ingest import ad_revenue_ingest
from payouts.models import AdRevenue, PayoutRun
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory
from tests.payouts.factories import MONTH, member, paying_program

REVENUE_HEADER = ["handle", "date", "amount", "currency"]
METRICS_HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
AUGUST, SEPTEMBER, OCTOBER = MONTH, MONTH.replace(month=9), MONTH.replace(month=10)
CLOSED_DAY, OPEN_DAY = AUGUST.replace(day=10), SEPTEMBER.replace(day=10)


pytestmark = pytest.mark.usefixtures("media_eager_and_permissions")


def run(program: Program, month=AUGUST, status=PayoutRun.Status.APPROVED) -> PayoutRun:
    return PayoutRun.objects.create(program=program, month=month, kind=PayoutRun.Kind.FINAL, status=status,
                                    currency=program.currency, as_of=month.replace(day=28), started_at=timezone.now())


def closed(program: Program, closing: PayoutRun, day=CLOSED_DAY) -> str:
    return MONTH_CLOSED.format(month=day, program=program.name, run=closing.pk, status=closing.status)


def write(tmp_path: Path, header, rows, name="file.csv") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([header, *rows])
    path = tmp_path / name
    path.write_text(buffer.getvalue())
    return str(path)


def ingest_revenue(tmp_path, rows, name="revenue.csv") -> ImportJob:
    path = write(tmp_path, REVENUE_HEADER, rows, name)
    job = import_job_create(kind=ImportJob.Kind.AD_REVENUE, source_name=name, file_path=path)
    return ad_revenue_ingest(job_id=job.pk)


def metric(handle, day, views=1000) -> list:
    return [handle, day.isoformat(), views, views, 10, 1, 1, 5000, 1]


def ingest_metrics(tmp_path, rows, name="metrics.csv") -> ImportJob:
    path = write(tmp_path, METRICS_HEADER, rows, name)
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=name, file_path=path)
    return daily_metrics_ingest(job_id=job.pk)


def report(job: ImportJob) -> list[tuple]:
    with default_storage.open(job.error_report_path, "rb") as handle:
        rows = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
        return [(int(row["row"]), row["column"], row["reason"]) for row in rows]


def revenue() -> dict[tuple, int]:
    return {(r.partner.handle, r.day, r.currency): r.amount_minor for r in AdRevenue.objects.select_related("partner")}


def stale() -> dict[int, str]:
    return dict(PayoutRun.objects.values_list("pk", "stale_reason"))


def today() -> str:
    return timezone.localdate().isoformat()


@pytest.fixture
def pulse() -> Program:
    """A USD revenue-share program with ana and ben; ana is also in a EUR one."""
    program = paying_program(Program.Archetype.REVENUE_SHARE)
    ana = member(program, handle="ana")
    member(program, handle="ben")
    euros = paying_program(Program.Archetype.REVENUE_SHARE, currency="EUR")
    euros.enrolments.create(partner=ana, status="approved", submitted_at=timezone.now(), approved_at=timezone.now())
    return program


# --- ad revenue of a closed month --------------------------------------------------------------------

def test_bulk_refuses_ad_revenue_of_a_closed_month_and_loads_the_open_one(pulse, tmp_path):
    august = run(pulse)
    ana = pulse.enrolments.get(partner__handle="ana").partner
    AdRevenue.objects.create(partner=ana, day=CLOSED_DAY, currency="USD", amount_minor=500)  # what August paid on

    job = ingest_revenue(tmp_path, [
        ["ana", CLOSED_DAY, "9.99", "USD"],  # 1 August is closed for pulse
        ["ana", OPEN_DAY, "1.00", "USD"],    # 2 September is open
        ["ana", CLOSED_DAY, "2.00", "EUR"],  # 3 the EUR program's August is open
    ])

    assert (job.status, job.rows_loaded, job.rows_rejected) == ("succeeded", 2, 1)
    assert report(job) == [(1, "date", closed(pulse, august))]
    assert revenue() == {("ana", CLOSED_DAY, "USD"): 500, ("ana", OPEN_DAY, "USD"): 100,
                         ("ana", CLOSED_DAY, "EUR"): 200}


def test_spreadsheet_preview_refuses_ad_revenue_of_a_closed_month(client, finance, pulse):
    august = run(pulse, status=PayoutRun.Status.PAID)
    client.force_login(finance)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([REVENUE_HEADER, ["ben", OPEN_DAY, "1.00", "USD"], ["ben", CLOSED_DAY, "1.00", "USD"]])

    response = client.post(reverse("admin:payouts_adrevenue_import"), {
        "resource": "0", "format": "0", "import_file": SimpleUploadedFile("r.csv", buffer.getvalue().encode())})

    errors = {row.number: row.error_dict for row in response.context["result"].invalid_rows}
    assert errors == {2: {"date": [closed(pulse, august)]}}
    assert AdRevenue.objects.count() == 0


def form(data, instance=None) -> AdRevenueAdminForm:
    return AdRevenueAdminForm(data=data, instance=instance)


def test_the_ad_revenue_form_refuses_a_closed_month_and_moves_into_or_out_of_one(pulse):
    august = run(pulse)
    ana = pulse.enrolments.get(partner__handle="ana").partner
    paid_on = AdRevenue.objects.create(partner=ana, day=CLOSED_DAY, currency="USD", amount_minor=500)
    in_euros = AdRevenue.objects.create(partner=ana, day=CLOSED_DAY, currency="EUR", amount_minor=300)
    row = {"partner": ana.pk, "day": CLOSED_DAY, "currency": "USD", "amount_minor": 1}

    added = form(row)
    edited = form({**row, "amount_minor": 600}, instance=paid_on)
    moved_out = form({**row, "currency": "GBP", "amount_minor": 500}, instance=paid_on)
    moved_in = form({**row, "amount_minor": 300}, instance=in_euros)  # EUR → USD: into pulse's closed August

    assert added.errors == {"day": [closed(pulse, august)]}
    assert edited.errors == {"__all__": [closed(pulse, august)]}
    assert moved_out.errors == {"__all__": [closed(pulse, august)]}
    assert moved_in.errors == {"day": [closed(pulse, august)]}
    assert revenue() == {("ana", CLOSED_DAY, "USD"): 500, ("ana", CLOSED_DAY, "EUR"): 300}


# --- stale runs ---------------------------------------------------------------------------------------

@pytest.fixture
def fund() -> Program:
    """A pooled fund with fia as a member; bob is in no program."""
    program = paying_program(Program.Archetype.POOLED_FUND)
    member(program, handle="fia")
    PartnerFactory(handle="bob")  # in no program
    return program


def test_a_late_metric_marks_the_computed_run_of_its_month_stale(fund, tmp_path, django_capture_on_commit_callbacks):
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)
    october = run(fund, OCTOBER, PayoutRun.Status.COMPUTED)
    august = run(fund, AUGUST, PayoutRun.Status.APPROVED)
    other = paying_program(Program.Archetype.POOLED_FUND)  # fia is not a member of this one
    others_september = run(other, SEPTEMBER, PayoutRun.Status.COMPUTED)

    with django_capture_on_commit_callbacks(execute=True):
        job = ingest_metrics(tmp_path, [metric("fia", OPEN_DAY)])

    assert stale() == {
        september.pk: f"daily metrics for 1 partner loaded on {today()} by import job {job.pk}",
        october.pk: "", august.pk: "", others_september.pk: "",
    }


def test_a_metric_of_a_partner_not_in_the_program_marks_nothing(fund, tmp_path, django_capture_on_commit_callbacks):
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)

    with django_capture_on_commit_callbacks(execute=True):
        job = ingest_metrics(tmp_path, [metric("bob", OPEN_DAY)])

    assert job.rows_loaded == 1
    assert stale() == {september.pk: ""}


def test_loading_the_same_metrics_again_marks_nothing(fund, tmp_path, django_capture_on_commit_callbacks):
    DailyMetricFactory(partner=fund.enrolments.get().partner, day=OPEN_DAY, views=1000, qualified_views=1000,
                       likes=10, comments=1, shares=1, followers=5000, posts=1)
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)

    with django_capture_on_commit_callbacks(execute=True):
        job = ingest_metrics(tmp_path, [metric("fia", OPEN_DAY)])

    assert (job.rows_loaded, stale()) == (0, {september.pk: ""})


def test_a_refused_row_marks_nothing(fund, tmp_path, django_capture_on_commit_callbacks):
    run(fund, AUGUST, PayoutRun.Status.APPROVED)
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)

    with django_capture_on_commit_callbacks(execute=True):
        job = ingest_metrics(tmp_path, [metric("fia", CLOSED_DAY)])

    assert (job.rows_loaded, job.rows_rejected) == (0, 1)
    assert stale()[september.pk] == ""
    assert DailyMetric.objects.count() == 0


def test_ad_revenue_marks_revenue_share_runs_stale_not_pooled_ones(pulse, fund, tmp_path, finance,
                                                                        django_capture_on_commit_callbacks):
    revenue_run = run(pulse, SEPTEMBER, PayoutRun.Status.COMPUTED)
    fund_run = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)
    path = write(tmp_path, REVENUE_HEADER, [["ana", OPEN_DAY, "1.00", "USD"], ["ben", OPEN_DAY, "2.00", "USD"]])
    job = import_job_create(kind=ImportJob.Kind.AD_REVENUE, source_name="r.csv", file_path=path, actor=finance)

    with django_capture_on_commit_callbacks(execute=True):
        ad_revenue_ingest(job_id=job.pk)

    assert stale() == {revenue_run.pk: f"ad revenue for 2 partners loaded on {today()} by import job {job.pk} "
                                       f"(finance)", fund_run.pk: ""}


def test_a_load_too_big_to_list_marks_every_computed_run_of_its_months(fund, tmp_path, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    monkeypatch.setattr(merge, "PARTNER_LIST_LIMIT", 1)
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)
    october = run(fund, OCTOBER, PayoutRun.Status.COMPUTED)

    with django_capture_on_commit_callbacks(execute=True):
        job = ingest_metrics(tmp_path, [metric("bob", OPEN_DAY), metric("bob", OPEN_DAY.replace(day=11))])

    assert stale() == {
        september.pk: f"daily metrics for 2 rows (too many partners to list) loaded on {today()} by import job "
                      f"{job.pk}",
        october.pk: "",
    }


@pytest.mark.postgres  # SQLite's merge does not say which days it changed: it takes the months of every staged day
def test_a_load_too_big_to_list_marks_only_the_months_whose_rows_it_changed(fund, tmp_path, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    monkeypatch.setattr(merge, "PARTNER_LIST_LIMIT", 1)
    days = [OPEN_DAY, OPEN_DAY.replace(day=11), OCTOBER.replace(day=11)]
    ingest_metrics(tmp_path, [metric("bob", day) for day in days], name="first.csv")
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)
    october = run(fund, OCTOBER, PayoutRun.Status.COMPUTED)

    with django_capture_on_commit_callbacks(execute=True):  # September's two rows change, October's is the same
        job = ingest_metrics(tmp_path, [metric("bob", day, views=2000 if day.month == 9 else 1000) for day in days],
                             name="second.csv")

    assert stale() == {
        september.pk: f"daily metrics for 2 rows (too many partners to list) loaded on {today()} by import job "
                      f"{job.pk}",
        october.pk: "",
    }


def test_the_spreadsheet_import_and_the_admin_form_mark_runs_stale(client, superuser, fund,
                                                                   django_capture_on_commit_callbacks):
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)
    october = run(fund, OCTOBER, PayoutRun.Status.COMPUTED)
    fia = fund.enrolments.get().partner
    client.force_login(superuser)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([METRICS_HEADER, metric("fia", OPEN_DAY)])
    preview = client.post(reverse("admin:partnerships_dailymetric_import"), {
        "resource": "0", "format": "0", "import_file": SimpleUploadedFile("m.csv", buffer.getvalue().encode())})
    assert stale()[september.pk] == ""  # a preview changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:partnerships_dailymetric_process_import"), preview.context["confirm_form"].initial)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:partnerships_dailymetric_add"), {
            "partner": fia.pk, "day": OCTOBER.replace(day=3).isoformat(), "views": 5, "qualified_views": 5,
            "likes": 0, "comments": 0, "shares": 0, "followers": 0, "posts": 0})

    assert response.status_code == 302
    assert stale() == {
        september.pk: f"daily metrics for 1 partner loaded on {today()} by root (admin spreadsheet import)",
        october.pk: f"daily metrics for 1 partner edited on {today()} by root (admin form)",
    }


def test_the_hook_counts_only_members_of_each_run(fund, pulse):
    """Set-based: one statement finds the concerned runs and how many loaded partners are their members."""
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)
    ana, ben = (pulse.enrolments.get(partner__handle=handle).partner for handle in ("ana", "ben"))
    fund_ana = fund.enrolments.get().partner
    loaded = guards.LoadedInputs(
        input=guards.DAILY_METRICS, rows=3, source="a test", loaded_on=OCTOBER,
        partner_months=frozenset({(fund_ana.pk, SEPTEMBER), (ana.pk, SEPTEMBER), (ben.pk, OCTOBER)}),
        first_day=SEPTEMBER, last_day=OCTOBER)

    assert payout_runs_mark_stale_after_load(loaded) == 1
    assert stale() == {september.pk: "daily metrics for 1 partner loaded on 2026-10-01 by a test"}


def test_deleting_a_metric_in_the_admin_marks_the_run_stale(client, superuser, fund,
                                                           django_capture_on_commit_callbacks):
    september = run(fund, SEPTEMBER, PayoutRun.Status.COMPUTED)
    row = DailyMetricFactory(partner=fund.enrolments.get().partner, day=OPEN_DAY, views=9, qualified_views=9)
    client.force_login(superuser)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:partnerships_dailymetric_delete", args=[row.pk]), {"post": "yes"})

    assert DailyMetric.objects.count() == 0
    assert stale() == {september.pk: f"daily metrics for 1 partner deleted on {today()} by root (admin)"}
