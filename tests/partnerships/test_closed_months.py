"""Daily metrics for a month closed for payouts are refused on every path — bulk ingestion, the admin's spreadsheet
import (preview and confirmation) and the admin's form — row by row, with the month and the run named, while the
other rows of the same file load. "Closed" is payouts' definition (payouts.closed_months), reached through the
period guard registry (ingestion.guards)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from core.files import IMPORT_HAS_ERRORS
from ingestion import guards
from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from partnerships.ingest_metrics import daily_metrics_ingest
from partnerships.models import DailyMetric, Enrolment, Program
from payouts.exceptions import MONTH_CLOSED
from payouts.models import PayoutRun
from tests.partnerships.factories import DailyMetricFactory, EnrolmentFactory, PartnerFactory
from tests.payouts.factories import MONTH, member, paying_program

HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
CLOSED_DAY = MONTH.replace(day=10)  # August 2026: its run is approved
OPEN_DAY = MONTH.replace(month=9, day=10)  # September 2026: no run yet


pytestmark = pytest.mark.usefixtures("db", "media_and_eager_tasks")


def run(program: Program, month=MONTH, status=PayoutRun.Status.APPROVED, kind=PayoutRun.Kind.FINAL) -> PayoutRun:
    return PayoutRun.objects.create(program=program, month=month, kind=kind, status=status, currency=program.currency,
                                    as_of=month.replace(day=28), started_at=timezone.now())


@pytest.fixture
def fund() -> Program:
    """A pooled fund with ana as a member, whose August is approved; bob is in no program."""
    program = paying_program(Program.Archetype.POOLED_FUND)
    program.name = "US Creator Fund"
    program.save()
    member(program, handle="ana")
    PartnerFactory(handle="bob")
    return program


@pytest.fixture
def august(fund) -> PayoutRun:
    return run(fund)


def closed(program: Program, closing: PayoutRun, day=CLOSED_DAY) -> str:
    return MONTH_CLOSED.format(month=day, program=program.name, run=closing.pk, status=closing.status)


def metric(handle, day, views=1000) -> list:
    return [handle, day.isoformat(), views, views // 2, 10, 1, 1, 5000, 1]


def write(tmp_path: Path, rows, name="metrics.csv") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(buffer.getvalue())
    return str(path)


def ingest(path: str) -> ImportJob:
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=Path(path).name, file_path=path)
    return daily_metrics_ingest(job_id=job.pk)


def report(job: ImportJob) -> list[tuple]:
    with default_storage.open(job.error_report_path, "rb") as handle:
        rows = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
        return [(int(row["row"]), row["column"], row["value"], row["reason"]) for row in rows]


def metrics() -> dict[tuple, int]:
    return {(m.partner.handle, m.day): m.views for m in DailyMetric.objects.select_related("partner")}


# --- bulk ingestion --------------------------------------------------------------------------------

def test_bulk_refuses_a_closed_month_row_by_row_and_loads_the_rest(fund, august, tmp_path):
    ana = fund.enrolments.get().partner
    DailyMetricFactory(partner=ana, day=CLOSED_DAY, views=7, qualified_views=7)  # what August was paid on

    job = ingest(write(tmp_path, [
        metric("ana", CLOSED_DAY),                   # 1 August is closed for ana's fund
        metric("ana", OPEN_DAY),                     # 2 September is open
        metric("bob", CLOSED_DAY),                   # 3 bob is in no program: nothing closes his August
        metric("ana", CLOSED_DAY + dt.timedelta(1)),  # 4 closed too
    ]))

    assert (job.status, job.rows_processed, job.rows_loaded, job.rows_rejected) == ("succeeded", 4, 2, 2)
    assert report(job) == [(1, "date", CLOSED_DAY.isoformat(), closed(fund, august)),
                           (4, "date", (CLOSED_DAY + dt.timedelta(1)).isoformat(), closed(fund, august))]
    # The refused rows wrote nothing: August keeps what it was paid on, and gains no row.
    assert metrics() == {("ana", CLOSED_DAY): 7, ("ana", OPEN_DAY): 1000, ("bob", CLOSED_DAY): 1000}


def test_the_reason_names_month_program_run_and_status(fund, tmp_path):
    paid = run(fund, status=PayoutRun.Status.PAID)

    job = ingest(write(tmp_path, [metric("ana", CLOSED_DAY)]))

    assert report(job)[0][3] == (f"August 2026 is closed for “US Creator Fund” (run {paid.pk}, paid): record a late "
                                 f"correction as an adjustment for a later run")
    assert DailyMetric.objects.count() == 0


@pytest.mark.parametrize(("status", "refused"), [
    (Enrolment.Status.SUSPENDED, True), (Enrolment.Status.ENDED, True),
    (Enrolment.Status.SUBMITTED, False), (Enrolment.Status.REJECTED, False),
])
def test_members_ever_approved_are_guarded_applicants_are_not(fund, august, tmp_path, status, refused):
    EnrolmentFactory(partner=PartnerFactory(handle="cyd"), program=fund, status=status)

    job = ingest(write(tmp_path, [metric("cyd", CLOSED_DAY)]))

    assert (job.rows_loaded, job.rows_rejected) == ((0, 1) if refused else (1, 0))
    assert DailyMetric.objects.filter(partner__handle="cyd").exists() is not refused


@pytest.mark.parametrize("status", [PayoutRun.Status.COMPUTED, PayoutRun.Status.CANCELLED, PayoutRun.Status.FAILED])
def test_a_month_whose_run_is_not_approved_is_open(fund, tmp_path, status):
    run(fund, status=status)

    job = ingest(write(tmp_path, [metric("ana", CLOSED_DAY)]))

    assert (job.rows_loaded, job.rows_rejected) == (1, 0)


def test_an_estimate_or_a_program_that_does_not_read_metrics_closes_nothing(fund, tmp_path):
    run(fund, kind=PayoutRun.Kind.ESTIMATE)
    pulse = paying_program(Program.Archetype.REVENUE_SHARE)
    EnrolmentFactory(partner=fund.enrolments.get().partner, program=pulse, status=Enrolment.Status.APPROVED)
    run(pulse)  # revenue share reads ad revenue, not metrics

    job = ingest(write(tmp_path, [metric("ana", CLOSED_DAY)]))

    assert (job.rows_loaded, job.rows_rejected) == (1, 0)


def test_admin_upload_runs_the_same_refusal(client, superuser, fund, august, tmp_path,
                                            django_capture_on_commit_callbacks):
    content = Path(write(tmp_path, [metric("ana", CLOSED_DAY), metric("ana", OPEN_DAY)])).read_bytes()
    client.force_login(superuser)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:ingestion_importjob_upload", args=["metrics"]),
                               {"file": SimpleUploadedFile("m.csv", content)})

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert (job.status, job.rows_loaded, job.rows_rejected) == ("succeeded", 1, 1)
    assert report(job)[0][3] == closed(fund, august)
    assert metrics() == {("ana", OPEN_DAY): 1000}


# --- the admin's spreadsheet import ------------------------------------------------------------------

def csv_bytes(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([HEADER, *rows])
    return buffer.getvalue().encode()


def preview(client, content: bytes):
    return client.post(reverse("admin:partnerships_dailymetric_import"), {
        "resource": "0", "format": "0", "import_file": SimpleUploadedFile("m.csv", content)})


def test_spreadsheet_preview_refuses_closed_rows_and_writes_nothing(client, superuser, fund, august):
    client.force_login(superuser)

    response = preview(client, csv_bytes([metric("ana", OPEN_DAY), metric("ana", CLOSED_DAY)]))

    errors = {row.number: row.error_dict for row in response.context["result"].invalid_rows}
    assert errors == {2: {"date": [closed(fund, august)]}}
    assert "confirm_form" not in response.context  # a file with a refused row cannot be confirmed
    assert DailyMetric.objects.count() == 0


def test_spreadsheet_confirm_refuses_a_month_closed_since_the_preview(client, superuser, fund):
    client.force_login(superuser)
    response = preview(client, csv_bytes([metric("ana", OPEN_DAY), metric("ana", CLOSED_DAY)]))
    form = response.context["confirm_form"]
    closing = run(fund)  # August is approved between the preview and the confirmation

    confirmed = client.post(reverse("admin:partnerships_dailymetric_process_import"), form.initial, follow=True)

    shown = [str(message) for message in confirmed.context["messages"]]
    assert shown == [IMPORT_HAS_ERRORS.format(count=1) + f" line 3, date: {closed(fund, closing)}"]  # data row 2
    assert DailyMetric.objects.count() == 0  # every row or none


def test_spreadsheet_import_of_open_months_loads(client, superuser, fund, august):
    client.force_login(superuser)
    response = preview(client, csv_bytes([metric("ana", OPEN_DAY), metric("bob", CLOSED_DAY)]))

    client.post(reverse("admin:partnerships_dailymetric_process_import"), response.context["confirm_form"].initial)

    assert metrics() == {("ana", OPEN_DAY): 1000, ("bob", CLOSED_DAY): 1000}


# --- the admin's form ------------------------------------------------------------------------------

def form_data(partner, day, views=1000) -> dict:
    return {"partner": partner.pk, "day": day.isoformat(), "views": views, "qualified_views": 0, "likes": 0,
            "comments": 0, "shares": 0, "followers": 0, "posts": 0}


def test_admin_form_refuses_adding_a_row_to_a_closed_month(client, superuser, fund, august):
    ana = fund.enrolments.get().partner
    client.force_login(superuser)

    response = client.post(reverse("admin:partnerships_dailymetric_add"), form_data(ana, CLOSED_DAY))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"day": [closed(fund, august)]}
    assert DailyMetric.objects.count() == 0


def test_admin_form_refuses_editing_a_closed_row_or_moving_a_row_in_or_out(client, superuser, fund, august):
    ana = fund.enrolments.get().partner
    paid_on = DailyMetricFactory(partner=ana, day=CLOSED_DAY, views=7, qualified_views=7)
    later = DailyMetricFactory(partner=ana, day=OPEN_DAY, views=9, qualified_views=9)
    client.force_login(superuser)

    edit = client.post(reverse("admin:partnerships_dailymetric_change", args=[paid_on.pk]),
                       form_data(ana, CLOSED_DAY, views=8))
    move_out = client.post(reverse("admin:partnerships_dailymetric_change", args=[paid_on.pk]),
                           form_data(ana, CLOSED_DAY - dt.timedelta(days=20), views=7))
    move_in = client.post(reverse("admin:partnerships_dailymetric_change", args=[later.pk]),
                          form_data(ana, CLOSED_DAY + dt.timedelta(days=1), views=9))

    assert edit.context["adminform"].form.non_field_errors() == [closed(fund, august)]
    assert move_out.context["adminform"].form.non_field_errors() == [closed(fund, august)]
    assert move_in.context["adminform"].form.errors == {"day": [closed(fund, august, CLOSED_DAY + dt.timedelta(1))]}
    assert sorted(DailyMetric.objects.values_list("day", "views")) == [(CLOSED_DAY, 7), (OPEN_DAY, 9)]


def test_admin_form_edits_an_open_month(client, superuser, fund, august):
    ana = fund.enrolments.get().partner
    later = DailyMetricFactory(partner=ana, day=OPEN_DAY, views=9, qualified_views=9)
    client.force_login(superuser)

    response = client.post(reverse("admin:partnerships_dailymetric_change", args=[later.pk]),
                           form_data(ana, OPEN_DAY, views=10))

    assert response.status_code == 302
    later.refresh_from_db()
    assert later.views == 10


# --- the registry ------------------------------------------------------------------------------------

def test_the_metrics_engine_asks_whichever_guard_is_registered(fund, tmp_path, monkeypatch):
    """partnerships knows no payouts: any app's guard applies, by its own SQL and its own words."""
    monkeypatch.setattr(guards, "_GUARDS", {})  # payouts' guard aside
    august = "DATE '2026-08-01'" if connection.vendor == "postgresql" else "'2026-08-01'"
    guards.register_period_guard(guards.PeriodGuard(
        name="test", refusal=lambda month, detail: f"{month:%Y-%m} frozen by {detail}",
        closed_periods_sql=lambda input: (
            f"SELECT id AS partner_id, {august} AS month, 'USD' AS currency, 'the test' AS detail "
            f"FROM partnerships_partner WHERE handle = 'bob'") if input == guards.DAILY_METRICS else None,
    ))

    job = ingest(write(tmp_path, [metric("ana", CLOSED_DAY), metric("bob", CLOSED_DAY)]))

    assert [(row, reason) for row, _, _, reason in report(job)] == [(2, "2026-08 frozen by the test")]
    assert metrics() == {("ana", CLOSED_DAY): 1000}


def test_admin_refuses_deleting_a_closed_row_alone_or_in_bulk(client, superuser, fund, august):
    ana = fund.enrolments.get().partner
    paid_on = DailyMetricFactory(partner=ana, day=CLOSED_DAY, views=7, qualified_views=7)
    later = DailyMetricFactory(partner=ana, day=OPEN_DAY, views=9, qualified_views=9)
    client.force_login(superuser)

    alone = client.post(reverse("admin:partnerships_dailymetric_delete", args=[paid_on.pk]), {"post": "yes"})
    in_bulk = client.post(reverse("admin:partnerships_dailymetric_changelist"), {
        "action": "delete_selected", "_selected_action": [paid_on.pk, later.pk], "post": "yes"})

    assert (alone.status_code, in_bulk.status_code) == (403, 403)
    assert DailyMetric.objects.count() == 2
    client.post(reverse("admin:partnerships_dailymetric_delete", args=[later.pk]), {"post": "yes"})
    assert list(DailyMetric.objects.values_list("pk", flat=True)) == [paid_on.pk]  # an open month's row may go
