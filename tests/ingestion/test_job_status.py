"""An import job says how it ended, naming refused rows ("Completed — 5 rows refused") with the report link;
its page follows it by polling a small staff-only status endpoint (no reload); and it can be stopped through one
service, the worker honouring the stop between chunks and before the merge, so a stopped load writes nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from ingestion.engine import load
from ingestion.exceptions import JOB_ALREADY_FINISHED, JOB_CANCELLED, JOB_CANCELLED_QUEUED, IngestionError
from ingestion.jobs import import_job_cancel, import_job_create
from ingestion.models import ImportJob
from ingestion.selectors import job_state
from partnerships.ingest_metrics import daily_metrics_ingest
from partnerships.models import DailyMetric
from tests.partnerships.factories import PartnerFactory

pytestmark = pytest.mark.usefixtures("media_and_eager_tasks")

HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
DAY = timezone.localdate() - dt.timedelta(days=1)


def metric(handle, views=1000):
    return [handle, str(DAY), views, 0, 50, 5, 2, 20_000, 1]


def csv_bytes(rows, header=HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def job_for(tmp_path: Path, rows, header=HEADER) -> ImportJob:
    path = tmp_path / "metrics.csv"
    path.write_bytes(csv_bytes(rows, header))
    return import_job_create(kind=ImportJob.Kind.METRICS, source_name="metrics.csv", file_path=str(path))


def status_url(job_id: int) -> str:
    return reverse("admin:ingestion_importjob_status", args=[job_id])


@pytest.fixture
def partners(db):
    return [PartnerFactory(handle=handle) for handle in ("alice", "bob")]


# --- the final state names refused rows -------------------------------------------------------------

def test_a_load_with_5_of_7_rows_refused_says_so_with_the_report_and_no_stale_queued_message(
        client, manager, partners, django_capture_on_commit_callbacks):
    rows = [metric("alice"), metric("bob")] + [metric(f"ghost{index}") for index in range(5)]
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        uploaded = client.post(reverse("admin:ingestion_importjob_upload", args=["metrics"]),
                               {"file": SimpleUploadedFile("seven.csv", csv_bytes(rows))})
    response = client.get(uploaded["Location"])  # the page the upload leads to, once the worker has run

    job = ImportJob.objects.get()
    assert (job.status, job.rows_loaded, job.rows_rejected) == (ImportJob.Status.SUCCEEDED, 2, 5)
    assert job_state(job) == "Completed — 5 rows refused"
    page = response.content.decode()
    assert "Completed — 5 rows refused" in page
    assert "Succeeded" not in page
    assert "queued" not in page.lower()
    assert "ingestion/job_status.js" not in page  # ended: nothing left to follow
    assert reverse("admin:ingestion_importjob_report", args=[job.pk]) in page
    assert DailyMetric.objects.count() == 2


def test_the_refused_rows_report_opens_in_a_spreadsheet_with_line_column_value_and_reason(
        client, manager, partners, tmp_path):
    job = daily_metrics_ingest(job_id=job_for(tmp_path, [metric("alice"), metric("ghost")]).pk)
    client.force_login(manager)

    response = client.get(reverse("admin:ingestion_importjob_report", args=[job.pk]))

    body = b"".join(response.streaming_content)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert body.startswith(b"\xef\xbb\xbf")  # spreadsheets then read it as UTF-8
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [(row["line"], row["column"], row["value"]) for row in rows] == [("3", "handle", "ghost")]
    assert rows[0]["reason"] == "no partner has the handle “ghost”"


@pytest.mark.parametrize(("fields", "state"), [
    ({"status": "queued"}, "Queued — waiting for a worker"),
    ({"status": "running", "bytes_total": 200, "bytes_processed": 50}, "Running — 25%"),
    ({"status": "succeeded", "rows_rejected": 0}, "Completed"),
    ({"status": "succeeded", "rows_rejected": 1}, "Completed — 1 row refused"),
    ({"status": "succeeded", "rows_rejected": 12_345}, "Completed — 12,345 rows refused"),
    ({"status": "failed"}, "Failed — nothing loaded"),
    ({"status": "cancelled"}, "Cancelled — nothing loaded"),
])
def test_every_state_in_words(db, fields, state):
    assert job_state(ImportJob(kind="metrics", **fields)) == state


# --- the status endpoint -----------------------------------------------------------------------------

def test_the_status_endpoint_answers_the_jobs_state_progress_and_counts(client, manager):
    job = ImportJob.objects.create(kind="metrics", source_name="m.csv", status=ImportJob.Status.RUNNING,
                                   bytes_total=1000, bytes_processed=400, rows_processed=4_000, rows_rejected=3,
                                   message="Reading the file…")
    client.force_login(manager)

    response = client.get(status_url(job.pk))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "id": job.pk, "status": "running", "state": "Running — 40%", "final": False, "stopping": False,
        "percent": 40, "rows_processed": 4_000, "rows_loaded": 0, "rows_rejected": 3,
        "message": "Reading the file…", "report_url": None,
    }


def test_the_status_endpoint_answers_404_in_json_for_an_unknown_job(client, manager):
    client.force_login(manager)

    response = client.get(status_url(987_654))

    assert response.status_code == 404
    assert response.json() == {"error": "There is no import job 987654."}


def test_the_status_endpoint_is_for_staff_who_may_view_jobs(client, outsider, django_user_model):
    job = ImportJob.objects.create(kind="metrics", source_name="m.csv")

    assert client.get(status_url(job.pk)).status_code == 302  # anonymous: to the login page
    client.force_login(outsider)  # staff, without the permission to view jobs
    assert client.get(status_url(job.pk)).status_code == 403
    client.force_login(django_user_model.objects.create_user("member", password="x"))  # not staff
    response = client.get(status_url(job.pk))
    assert response.status_code == 302
    assert "login" in response["Location"]


# --- stopping ----------------------------------------------------------------------------------------

def test_a_queued_job_stops_at_once_and_its_task_then_does_nothing(partners, tmp_path, manager):
    job = job_for(tmp_path, [metric("alice")])

    stopped = import_job_cancel(job_id=job.pk, actor=manager)
    ran = daily_metrics_ingest(job_id=job.pk)  # the task's message arrives anyway

    assert (stopped.status, stopped.message) == ("cancelled", JOB_CANCELLED_QUEUED.format(user=manager))
    assert (ran.status, ran.rows_processed, ran.started_at) == ("cancelled", 0, None)
    assert DailyMetric.objects.count() == 0


def test_a_running_load_stops_between_chunks_and_writes_nothing(partners, tmp_path, manager, monkeypatch):
    monkeypatch.setattr(load, "STAGE_BATCH_ROWS", 2)
    # an extra column: the file is read row by row, in chunks of STAGE_BATCH_ROWS (PostgreSQL copies a file of
    # exactly the expected columns in larger blocks, which honour a stop the same way between two of them)
    rows = [metric(handle, views=views) + ["x"] for handle in ("alice", "bob") for views in range(1, 4)]
    job = job_for(tmp_path, rows, header=[*HEADER, "note"])
    write = load.Ingestion._stage_batch

    def first_chunk_then_stop(self, batch, source):
        write(self, batch, source)
        if self.outcome.rows_staged == 2:
            import_job_cancel(job_id=self.job.pk, actor=manager)  # someone presses Stop

    monkeypatch.setattr(load.Ingestion, "_stage_batch", first_chunk_then_stop)

    ended = daily_metrics_ingest(job_id=job.pk)

    ended.refresh_from_db()
    assert ended.status == ImportJob.Status.CANCELLED
    assert ended.message == JOB_CANCELLED.format(user=manager, rows=ended.rows_processed)
    assert ended.rows_processed < 6  # it did not read on
    assert (ended.rows_loaded, ended.error_report_path, ended.cancel_requested_by) == (0, "", manager)
    assert job_state(ended) == "Cancelled — nothing loaded"
    assert DailyMetric.objects.count() == 0
    with connection.cursor() as cursor:  # no staging table left behind
        tables = connection.introspection.table_names(cursor)
    assert not [name for name in tables if name.startswith("ingest_stage")]


def test_a_stop_just_before_the_merge_is_honoured_and_writes_nothing(partners, tmp_path, manager, monkeypatch):
    job = job_for(tmp_path, [metric("alice"), metric("bob")])
    merge = load.Ingestion._merge

    def stop_then_merge(self):  # every check done, nothing written yet
        import_job_cancel(job_id=self.job.pk, actor=manager)
        merge(self)

    monkeypatch.setattr(load.Ingestion, "_merge", stop_then_merge)

    ended = daily_metrics_ingest(job_id=job.pk)

    assert (ended.status, ended.rows_loaded) == ("cancelled", 0)
    assert DailyMetric.objects.count() == 0


def test_an_ended_job_cannot_be_stopped(partners, tmp_path, manager):
    job = daily_metrics_ingest(job_id=job_for(tmp_path, [metric("alice")]).pk)

    with pytest.raises(IngestionError, match="already ended"):
        import_job_cancel(job_id=job.pk, actor=manager)

    job.refresh_from_db()
    assert (job.status, job.cancel_requested_at) == ("succeeded", None)
    assert JOB_ALREADY_FINISHED.format(state="completed").startswith("This job has already ended (completed)")


def test_the_stop_button_answers_the_pages_script_in_json(client, manager, tmp_path, partners):
    job = job_for(tmp_path, [metric("alice")])
    client.force_login(manager)
    page = client.get(reverse("admin:ingestion_importjob_change", args=[job.pk])).content.decode()
    assert ">Stop</button>" in page

    response = client.post(reverse("admin:ingestion_importjob_stop", args=[job.pk]),
                           HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert (response.json()["state"], response.json()["final"]) == ("Cancelled — nothing loaded", True)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED


def test_stopping_needs_the_permission_to_load_that_kind(client, finance, tmp_path, db):
    job = job_for(tmp_path, [metric("alice")])
    client.force_login(finance)  # may follow jobs, may not load metrics

    assert client.get(reverse("admin:ingestion_importjob_stop", args=[job.pk])).status_code == 405
    assert client.post(reverse("admin:ingestion_importjob_stop", args=[job.pk])).status_code == 403
    page = client.get(reverse("admin:ingestion_importjob_change", args=[job.pk])).content.decode()
    assert ">Stop</button>" not in page
    job.refresh_from_db()
    assert (job.status, job.cancel_requested_at) == ("queued", None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_stop_during_the_merge_does_not_wait_for_it_and_changes_nothing(tmp_path, manager):
    import psycopg

    job = ImportJob.objects.create(kind="metrics", source_name="m.csv", status=ImportJob.Status.RUNNING)
    with psycopg.connect(**connection.get_connection_params()) as merging:  # the worker, its merge under way
        merging.execute(f"SELECT id FROM {ImportJob._meta.db_table} WHERE id = %s FOR UPDATE", [job.pk])

        with pytest.raises(IngestionError, match="writing its rows now"):
            import_job_cancel(job_id=job.pk, actor=manager)

    job.refresh_from_db()
    assert (job.status, job.cancel_requested_at) == ("running", None)
