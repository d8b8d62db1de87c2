"""Bulk ingestion of daily metrics: a file loads its valid rows, refuses the others with row, column and reason
in a report, writes nothing when the file as a whole is unusable, and changes nothing when loaded again."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import threading
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from core.files import FILE_EMPTY, FILE_MISSING_COLUMNS, FILE_NO_ROWS, FILE_UTF16
from ingestion.engine import load, run, stage
from ingestion.exceptions import (
    BAD_COUNT,
    BAD_DATE,
    DUPLICATE_ROW,
    FUTURE_DATE,
    NEGATIVE_COUNT,
    QUALIFIED_ABOVE_VIEWS,
    ROW_WIDTH,
    UNKNOWN_PARTNER,
    VALUE_MISSING,
    VALUE_NOT_UTF8,
)
from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from partnerships.ingest_metrics import daily_metrics_ingest
from partnerships.models import DailyMetric, PartnerStatistics
from partnerships.tasks import ingest_metrics_task
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory

HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
DAY = timezone.localdate() - dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _media_and_eager_tasks(settings, tmp_path, monkeypatch):
    """Reports and uploads in a scratch directory; Celery tasks in process even when a broker is configured."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def partners(db):
    return [PartnerFactory(handle=handle) for handle in ("alice", "bob", "carol")]


def metric_row(handle: str, day=DAY, views=1000, qualified=800, likes=50, comments=5, shares=2, followers=20_000,
               posts=1) -> list:
    return [handle, str(day), views, qualified, likes, comments, shares, followers, posts]


def write_file(tmp_path: Path, rows, *, header=HEADER, name="metrics.csv", compress=False, encoding="utf-8",
               newline="\n") -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=newline)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding) if isinstance(encoding, str) else buffer.getvalue()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


def ingest(path: str) -> ImportJob:
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=Path(path).name, file_path=path)
    return daily_metrics_ingest(job_id=job.pk)


def report_rows(job: ImportJob) -> list[dict]:
    assert job.error_report_path, "the job has no error report"
    with default_storage.open(job.error_report_path, "rb") as handle:
        return list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline="")))


def stored() -> dict[tuple[str, dt.date], tuple]:
    return {
        (metric.partner.handle, metric.day): (metric.views, metric.qualified_views, metric.likes, metric.comments,
                                              metric.shares, metric.followers, metric.posts)
        for metric in DailyMetric.objects.select_related("partner")
    }


# --- a clean file --------------------------------------------------------------------------------

def test_a_clean_file_loads_every_row_and_refreshes_the_partners_statistics(
        partners, tmp_path, django_capture_on_commit_callbacks):
    path = write_file(tmp_path, [metric_row("alice", views=1000), metric_row("bob", views=2000, qualified=0)])

    with django_capture_on_commit_callbacks(execute=True):
        job = ingest(path)

    assert (job.status, job.rows_processed, job.rows_loaded, job.rows_rejected) == ("succeeded", 2, 2, 0)
    assert (job.error_report_path, job.bytes_processed, job.bytes_total) == ("", Path(path).stat().st_size,
                                                                             Path(path).stat().st_size)
    assert job.started_at <= job.finished_at
    assert stored() == {("alice", DAY): (1000, 800, 50, 5, 2, 20_000, 1), ("bob", DAY): (2000, 0, 50, 5, 2, 20_000, 1)}
    assert job.message == ("2 rows read: 2 loaded (new or changed), 0 unchanged, 0 rejected. "
                           "Statistics of 2 partners are being refreshed.")
    statistics = {row.partner.handle: (row.views_30d, row.followers)
                  for row in PartnerStatistics.objects.select_related("partner")}
    assert statistics == {"alice": (1000, 20_000), "bob": (2000, 20_000)}  # carol had no row: not touched


def test_gzip_compressed_file_loads_like_the_plain_one(partners, tmp_path):
    rows = [metric_row("alice"), metric_row("bob", views=5000)]
    path = write_file(tmp_path, rows, name="metrics.csv.gz", compress=True)

    job = ingest(path)

    assert (job.status, job.rows_loaded) == ("succeeded", 2)
    assert stored()[("bob", DAY)][0] == 5000
    assert job.bytes_total == Path(path).stat().st_size


def test_gzip_is_recognised_by_content_not_by_name(partners, tmp_path):
    path = write_file(tmp_path, [metric_row("alice")], name="metrics.csv", compress=True)
    assert ingest(path).rows_loaded == 1


def test_reingesting_the_same_file_changes_nothing(partners, tmp_path):
    path = write_file(tmp_path, [metric_row("alice"), metric_row("bob", views=7000)])
    ingest(path)
    before = (stored(), list(DailyMetric.objects.order_by("pk").values_list("pk", flat=True)))

    again = ingest(path)

    assert (again.status, again.rows_processed, again.rows_loaded, again.rows_rejected) == ("succeeded", 2, 0, 0)
    assert "0 loaded (new or changed), 2 unchanged" in again.message
    assert (stored(), list(DailyMetric.objects.order_by("pk").values_list("pk", flat=True))) == before


def test_a_later_file_replaces_the_day_and_adds_new_days(partners, tmp_path):
    ingest(write_file(tmp_path, [metric_row("alice", views=1000)], name="a.csv"))
    job = ingest(write_file(tmp_path, [metric_row("alice", views=3000), metric_row("alice", day=DAY - dt.timedelta(1))],
                            name="b.csv"))

    assert job.rows_loaded == 2
    assert stored()[("alice", DAY)][0] == 3000
    assert DailyMetric.objects.count() == 2


def test_quoted_values_reordered_and_extra_columns_crlf_and_bom_are_read(partners, tmp_path):
    header = ["posts", "Handle ", "date", "views", "qualified_views", "likes", "comments", "shares", "followers",
              "note"]
    rows = [[1, " alice", str(DAY), "1000", "800", "50", "5", "2", "20000", "a, quoted\nnote"],
            [2, "bob", str(DAY), "0012", "0", "0", "0", "0", "1", ""]]
    path = tmp_path / "odd.csv"
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode())

    job = ingest(str(path))

    assert (job.status, job.rows_processed, job.rows_loaded, job.rows_rejected) == ("succeeded", 2, 2, 0)
    assert stored() == {("alice", DAY): (1000, 800, 50, 5, 2, 20_000, 1), ("bob", DAY): (12, 0, 0, 0, 0, 1, 2)}
    assert "Ignored this column: note." in job.message


# --- rows refused, with row, column and reason -----------------------------------------------------

def test_every_kind_of_bad_row_is_reported_with_row_line_column_and_reason_and_only_good_rows_load(
        partners, tmp_path):
    future = timezone.localdate() + dt.timedelta(days=5)
    rows = [
        metric_row("alice"),                                 # row 1: good
        metric_row("nobody"),                                # row 2: unknown partner
        metric_row("bob", day="2026-13-01"),                 # row 3: malformed date
        metric_row("bob", day="01/09/2026"),                 # row 4: another malformed date
        metric_row("bob", views=-5),                         # row 5: negative count
        metric_row("bob", likes="12.5"),                     # row 6: not a whole number
        metric_row("bob", views=10, qualified=20),           # row 7: qualified above views
        metric_row("bob", day=future),                       # row 8: in the future
        metric_row("alice", views=999),                      # row 9: duplicate of row 1
        ["carol", str(DAY), 1],                              # row 10: too few values
        metric_row("carol", comments=""),                    # row 11: missing value
        metric_row("carol"),                                 # row 12: good
    ]
    path = write_file(tmp_path, rows)

    job = ingest(path)

    assert (job.status, job.rows_processed, job.rows_loaded, job.rows_rejected) == ("succeeded", 12, 2, 10)
    good = (1000, 800, 50, 5, 2, 20_000, 1)
    assert stored() == {("alice", DAY): good, ("carol", DAY): good}
    report = [(int(r["row"]), int(r["line"]), r["column"], r["reason"]) for r in report_rows(job)]
    assert report == [
        (2, 3, "handle", UNKNOWN_PARTNER.format(value="nobody")),
        (3, 4, "date", BAD_DATE.format(value="2026-13-01")),
        (4, 5, "date", BAD_DATE.format(value="01/09/2026")),
        (5, 6, "views", NEGATIVE_COUNT.format(value=-5)),
        (6, 7, "likes", BAD_COUNT.format(value="12.5")),
        (7, 8, "qualified_views", QUALIFIED_ABOVE_VIEWS.format(qualified=20, views=10)),
        (8, 9, "date", FUTURE_DATE.format(value=future.isoformat())),
        (9, 10, "handle, date", DUPLICATE_ROW.format(first=1, key="handle and date")),
        (10, 11, "", ROW_WIDTH.format(expected=9, found=3)),
        (11, 12, "comments", VALUE_MISSING),
    ]
    assert "10 rejected (see the error report)" in job.message


def test_a_row_with_several_problems_lists_each_of_them(partners, tmp_path):
    job = ingest(write_file(tmp_path, [metric_row("Not A Handle", day="yesterday", views="lots")]))

    assert [(r["row"], r["column"]) for r in report_rows(job)] == [("1", "handle"), ("1", "date"), ("1", "views")]
    assert job.rows_rejected == 1
    assert DailyMetric.objects.count() == 0


def test_a_non_utf8_row_is_refused_with_its_bytes_and_the_rest_loads(partners, tmp_path):
    data = ("\n".join([",".join(HEADER), ",".join(map(str, metric_row("alice"))),
                       ",".join(map(str, metric_row("bob")))]) + "\n").encode()
    data = data.replace(b"bob", b"b\xe9b")  # Latin-1 é
    path = tmp_path / "latin1.csv"
    path.write_bytes(data)

    job = ingest(str(path))

    assert (job.status, job.rows_loaded, job.rows_rejected) == ("succeeded", 1, 1)
    [refused] = report_rows(job)
    assert (refused["row"], refused["column"], refused["value"]) == ("2", "handle", "b\\xe9b")
    assert refused["reason"] == VALUE_NOT_UTF8.format(bytes="0xE9")
    assert set(stored()) == {("alice", DAY)}


def test_the_report_neutralises_formulas_in_refused_values(partners, tmp_path):
    job = ingest(write_file(tmp_path, [metric_row('=HYPERLINK("http://x","y")')]))

    [refused] = report_rows(job)
    assert refused["value"].startswith("'=HYPERLINK")
    assert refused["column"] == "handle"


def test_rows_read_in_small_blocks_keep_their_row_and_line_numbers(partners, tmp_path, monkeypatch):
    """Clean blocks are copied as they are (PostgreSQL), others read line by line; a quoted value that goes
    on past a block's end is read whole; every refusal names the right row and line."""
    monkeypatch.setattr(load, "BLOCK_CHARACTERS", 120)  # two or three lines per block
    copied = []
    write_block = stage.Stage.write_block
    monkeypatch.setattr(stage.Stage, "write_block", lambda self, text, **kw: copied.append(text) or write_block(
        self, text, **kw))
    extra = [PartnerFactory(handle=f"p{index}") for index in range(12)]
    rows = [metric_row(p.handle, views=100 + index, qualified=0) for index, p in enumerate(extra)]  # rows 1-12
    rows[4] = metric_row("nobody")                         # row 5: unknown, found by the set check
    rows[7] = metric_row("p7", views=5, qualified=50)      # row 8: qualified above views
    rows.append(metric_row("p1", views=999))               # row 13: duplicate of row 2
    rows.append(['a "quoted"\nhandle', str(DAY), 1, 1, 1, 1, 1, 1, 1])  # row 14: two lines, refused
    rows.append(metric_row("alice"))                       # row 15, line 17: clean again
    job = ingest(write_file(tmp_path, rows))

    assert (job.status, job.rows_processed, job.rows_loaded, job.rows_rejected) == ("succeeded", 15, 11, 4)
    assert [(int(r["row"]), int(r["line"]), r["column"]) for r in report_rows(job)] == [
        (5, 6, "handle"), (8, 9, "qualified_views"), (13, 14, "handle, date"), (14, 15, "handle")]
    assert stored()[("p11", DAY)][0] == 111
    assert ("alice", DAY) in stored()
    assert bool(copied) == (connection.vendor == "postgresql")  # blocks copied as they are on PostgreSQL only


def test_repeated_keys_are_refused_by_the_merge_on_postgresql_and_a_clean_file_is_not_grouped_by_key(
        partners, tmp_path):
    """PostgreSQL leaves repeated keys to the merge's ON CONFLICT, which refuses to change a row twice, even to the same
    values; SQLite groups the staged rows by key first. Both refuse the same rows with the same words."""
    with CaptureQueriesContext(connection) as queries:
        job = ingest(write_file(tmp_path, [metric_row("alice"), metric_row("bob")]))
    assert (job.status, job.rows_loaded) == ("succeeded", 2)
    grouped = [query for query in queries.captured_queries if "_dup" in query["sql"]]
    assert bool(grouped) == (connection.vendor != "postgresql")

    rows = [
        metric_row("alice", views=5, qualified=5),   # row 1: changes alice
        metric_row("carol"),                         # row 2: new
        metric_row("alice", views=7, qualified=7),   # row 3: repeats row 1's key
        metric_row("carol"),                         # row 4: repeats row 2, same values
    ]
    job = ingest(write_file(tmp_path, rows, name="repeats.csv"))

    assert (job.status, job.rows_processed, job.rows_loaded, job.rows_rejected) == ("succeeded", 4, 2, 2)
    assert [(int(r["row"]), r["column"], r["reason"]) for r in report_rows(job)] == [
        (3, "handle, date", DUPLICATE_ROW.format(first=1, key="handle and date")),
        (4, "handle, date", DUPLICATE_ROW.format(first=2, key="handle and date")),
    ]
    assert stored() == {("alice", DAY): (5, 5, 50, 5, 2, 20_000, 1), ("bob", DAY): (1000, 800, 50, 5, 2, 20_000, 1),
                        ("carol", DAY): (1000, 800, 50, 5, 2, 20_000, 1)}

    # The first row equals the stored one, so the merge writes nothing for it and meets no conflict with its repeat:
    # fewer rows written than staged, the rows are grouped by key after all, and the repeat is refused.
    job = ingest(write_file(tmp_path, [metric_row("bob"), metric_row("bob", views=9, qualified=9)], name="same.csv"))

    assert (job.status, job.rows_loaded, job.rows_rejected) == ("succeeded", 0, 1)
    assert [int(r["row"]) for r in report_rows(job)] == [2]
    assert stored()[("bob", DAY)] == (1000, 800, 50, 5, 2, 20_000, 1)


def test_unknown_partners_are_refused_as_such_even_when_their_rows_repeat_a_key(partners, tmp_path):
    """On PostgreSQL the partners are looked up after the merge (it wrote fewer rows than were staged); a repeated
    unknown key is refused twice as an unknown partner, not as a repeat, as the check phase would have done."""
    rows = [metric_row("nobody"), metric_row("alice"), metric_row("nobody", views=9, qualified=9), metric_row("bob")]
    job = ingest(write_file(tmp_path, rows))

    assert (job.status, job.rows_loaded, job.rows_rejected) == ("succeeded", 2, 2)
    assert [(int(r["row"]), r["column"], r["reason"]) for r in report_rows(job)] == [
        (1, "handle", UNKNOWN_PARTNER.format(value="nobody")),
        (3, "handle", UNKNOWN_PARTNER.format(value="nobody")),
    ]
    assert set(stored()) == {("alice", DAY), ("bob", DAY)}

    job = ingest(write_file(tmp_path, [metric_row("carol"), metric_row("ghost")], name="ghost.csv"))

    assert (job.status, job.rows_loaded, job.rows_rejected) == ("succeeded", 1, 1)
    assert [(int(r["row"]), r["reason"]) for r in report_rows(job)] == [(2, UNKNOWN_PARTNER.format(value="ghost"))]
    assert set(stored()) == {("alice", DAY), ("bob", DAY), ("carol", DAY)}


# --- files refused as a whole: nothing written ----------------------------------------------------

def refused_file(path: str) -> ImportJob:
    DailyMetricFactory(partner__handle="zed", day=DAY, views=1)  # something already there, to prove it stays
    before = stored()
    job = ingest(path)
    assert job.status == ImportJob.Status.FAILED
    assert (job.rows_loaded, job.error_report_path) == (0, "")
    assert stored() == before
    return job


def test_a_missing_column_refuses_the_file_and_names_it(partners, tmp_path):
    path = write_file(tmp_path, [["alice", str(DAY), 1, 1, 1, 1, 1, 1]], header=HEADER[:-1])
    job = refused_file(path)
    assert job.message == FILE_MISSING_COLUMNS.format(missing="posts", expected=", ".join(HEADER))


def test_a_zero_byte_file_is_refused(partners, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert refused_file(str(path)).message == FILE_EMPTY


def test_a_file_of_blank_lines_is_refused_as_empty(partners, tmp_path):
    path = tmp_path / "blank.csv"
    path.write_bytes(b"\n\n  \n")
    assert refused_file(str(path)).message == FILE_EMPTY


def test_a_header_without_rows_is_refused(partners, tmp_path):
    assert refused_file(write_file(tmp_path, [])).message == FILE_NO_ROWS


def test_an_empty_gzip_file_is_refused(partners, tmp_path):
    path = tmp_path / "empty.csv.gz"
    path.write_bytes(gzip.compress(b""))
    assert refused_file(str(path)).message == FILE_EMPTY


def test_a_utf16_file_is_refused_with_how_to_fix_it(partners, tmp_path):
    path = write_file(tmp_path, [metric_row("alice")], encoding="utf-16")
    assert refused_file(path).message == FILE_UTF16


def test_a_truncated_gzip_file_is_refused_and_nothing_is_written(partners, tmp_path):
    path = write_file(tmp_path, [metric_row("alice"), metric_row("bob")] * 2000, compress=True)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])
    job = refused_file(path)
    assert job.message.startswith("The file cannot be read")


def test_a_file_that_stops_being_csv_halfway_writes_nothing(partners, tmp_path, monkeypatch, settings):
    settings.INGEST_MAX_LINE_BYTES = 1 << 20  # the csv module's field limit is met before the line limit
    monkeypatch.setattr(load, "STAGE_BATCH_ROWS", 2)  # several batches are staged before the bad line
    path = tmp_path / "broken.csv"
    good = "\n".join(",".join(map(str, metric_row(handle))) for handle in ("alice", "bob", "carol"))
    path.write_text(",".join(HEADER) + "\n" + good + "\n" + "x" * (csv.field_size_limit() + 1) + "\n")
    job = refused_file(str(path))
    assert job.message.startswith("Line 5 is not valid CSV")


# --- the job ---------------------------------------------------------------------------------------

def test_a_succeeded_job_is_not_run_again(partners, tmp_path):
    path = write_file(tmp_path, [metric_row("alice")])
    job = ingest(path)
    finished = job.finished_at
    DailyMetric.objects.all().delete()

    again = daily_metrics_ingest(job_id=job.pk)

    assert (again.status, again.finished_at, again.rows_loaded) == ("succeeded", finished, 1)
    assert DailyMetric.objects.count() == 0


def test_the_task_has_a_stable_name_and_runs_the_job(partners, tmp_path):
    assert ingest_metrics_task.name == "partnerships.ingest_metrics"
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name="m.csv",
                            file_path=write_file(tmp_path, [metric_row("alice")]))

    assert ingest_metrics_task.delay(job.pk).get() == "succeeded"
    assert DailyMetric.objects.count() == 1


def test_the_staging_table_is_dropped_after_a_load(partners, tmp_path):
    job = ingest(write_file(tmp_path, [metric_row("alice"), metric_row("nobody")]))
    assert f"ingest_stage_{job.pk}" not in connection.introspection.table_names()


def test_the_command_prints_the_summary_and_the_report(partners, tmp_path):
    out = io.StringIO()
    call_command("ingest_metrics", write_file(tmp_path, [metric_row("alice"), metric_row("nobody")]), stdout=out)

    text = out.getvalue()
    assert "(Completed — 1 row refused): 2 rows read: 1 loaded (new or changed), 0 unchanged, 1 rejected" in text
    assert "Error report: " in text
    assert "import-reports/job-" in text


def test_the_command_fails_on_a_refused_file_and_on_a_missing_one(partners, tmp_path):
    with pytest.raises(CommandError, match="The header lacks these columns"):
        call_command("ingest_metrics", write_file(tmp_path, [["alice"]], header=["handle"]), stdout=io.StringIO())
    with pytest.raises(CommandError, match="No such file"):
        call_command("ingest_metrics", str(tmp_path / "nope.csv"), stdout=io.StringIO())


# --- PostgreSQL: two loads of overlapping files at once ---------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_files_loaded_at_once_end_with_each_key_once_holding_one_files_values(tmp_path):
    handles = [f"creator{index}" for index in range(3000)]
    for handle in handles:
        PartnerFactory(handle=handle)
    # Both files hold every partner for DAY (the overlap), each with its own values, plus a day of its own.
    first = write_file(tmp_path, [metric_row(h, views=1000 + i, qualified=0) for i, h in enumerate(handles)]
                       + [metric_row(h, day=DAY - dt.timedelta(1)) for h in handles[:100]], name="first.csv")
    second = write_file(tmp_path, [metric_row(h, views=5000 + i, qualified=0) for i, h in reversed(
        list(enumerate(handles)))] + [metric_row(h, day=DAY - dt.timedelta(2)) for h in handles[:100]],
        name="second.csv")
    jobs = [import_job_create(kind=ImportJob.Kind.METRICS, source_name=Path(p).name, file_path=p)
            for p in (first, second)]
    barrier, errors = threading.Barrier(2), []

    def load(job_id: int) -> None:
        try:
            barrier.wait()
            daily_metrics_ingest(job_id=job_id, refresh=False)
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=load, args=(job.pk,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for job in jobs:
        job.refresh_from_db()
        assert (job.status, job.rows_rejected) == ("succeeded", 0), job.message
    rows = stored()
    assert len(rows) == DailyMetric.objects.count() == 3000 + 200
    overlap = {rows[(h, DAY)][0] - index for index, h in enumerate(handles)}
    assert overlap in ({1000}, {5000})  # every overlapping row from the same file: the one merged last


# --- the admin: upload, progress, report ------------------------------------------------------------

def upload(client, content: bytes, name="metrics.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(reverse("admin:ingestion_importjob_upload", args=["metrics"]),
                       {"file": SimpleUploadedFile(name, content)})


def test_a_manager_uploads_a_file_and_follows_the_job(client, manager, partners, tmp_path,
                                                       django_capture_on_commit_callbacks):
    content = Path(write_file(tmp_path, [metric_row("alice"), metric_row("nobody")], compress=True)).read_bytes()
    client.force_login(manager)
    jobs_page = client.get(reverse("admin:ingestion_importjob_changelist")).content.decode()
    assert "Upload daily metrics file…" in jobs_page

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, content, name="day.csv.gz")

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:ingestion_importjob_change", args=[job.pk])
    assert (job.status, job.created_by, job.source_name, job.rows_loaded, job.rows_rejected) == (
        "succeeded", manager, "day.csv.gz", 1, 1)
    assert job.file_path.startswith("imports/")
    page = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in page  # finished: no more refreshing
    assert '<progress value="100"' in page
    assert reverse("admin:ingestion_importjob_report", args=[job.pk]) in page

    report = client.get(reverse("admin:ingestion_importjob_report", args=[job.pk]))
    assert report.status_code == 200
    assert b"no partner has the handle" in b"".join(report.streaming_content)


def test_a_running_job_page_follows_the_job_by_polling_not_by_reloading(client, manager):
    job = ImportJob.objects.create(kind="metrics", source_name="m.csv", status=ImportJob.Status.RUNNING,
                                   started_at=timezone.now(), bytes_total=1000, bytes_processed=250)
    client.force_login(manager)

    page = client.get(reverse("admin:ingestion_importjob_change", args=[job.pk])).content.decode()

    assert 'http-equiv="refresh"' not in page
    assert "ingestion/job_status.js" in page
    assert f'data-status-url="{reverse("admin:ingestion_importjob_status", args=[job.pk])}"' in page
    assert "Running — 25%" in page
    assert '<progress value="25"' in page


def test_a_zero_byte_upload_is_refused_and_creates_no_job(client, manager):
    client.force_login(manager)
    response = upload(client, b"")
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == ["The submitted file is empty."]
    assert ImportJob.objects.count() == 0


@pytest.mark.parametrize("who", ["finance", "outsider"])
def test_without_the_import_permission_there_is_no_upload_and_no_report(client, request, who, tmp_path):
    user = request.getfixturevalue(who)
    job = ImportJob.objects.create(kind="metrics", source_name="m.csv", status="succeeded",
                                   error_report_path="import-reports/job-1-errors.csv")
    default_storage.save(job.error_report_path, io.BytesIO(b"row,line,column,value,reason\n"))
    client.force_login(user)

    assert upload(client, b"handle\n").status_code == 403
    assert client.get(reverse("admin:ingestion_importjob_report", args=[job.pk])).status_code == 403
    assert ImportJob.objects.count() == 1
    if who == "finance":  # may follow jobs, may not load metrics
        page = client.get(reverse("admin:ingestion_importjob_changelist")).content.decode()
        assert "Upload daily metrics file" not in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_that_another_worker_is_running_is_left_to_it(tmp_path):
    import psycopg

    PartnerFactory(handle="alice")
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name="m.csv",
                            file_path=write_file(tmp_path, [metric_row("alice")]))
    with psycopg.connect(**connection.get_connection_params()) as other:  # the other worker
        other.execute("SELECT pg_advisory_lock(%s, %s)", [run.CLAIM_NAMESPACE, job.pk])

        result = daily_metrics_ingest(job_id=job.pk)

    assert (result.status, DailyMetric.objects.count()) == ("queued", 0)
    assert daily_metrics_ingest(job_id=job.pk).status == "succeeded"  # once the other worker is gone


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_staging_tables_left_by_a_dead_worker_are_dropped_by_the_next_job(tmp_path):
    PartnerFactory(handle="alice")
    with connection.cursor() as cursor:
        cursor.execute("CREATE UNLOGGED TABLE ingest_stage_999999 (row_no bigint)")

    ingest(write_file(tmp_path, [metric_row("alice")]))

    assert "ingest_stage_999999" not in connection.introspection.table_names()


def test_a_count_beyond_any_real_day_is_refused_so_a_month_of_them_still_sums_in_a_bigint(partners, tmp_path):
    """31 days of the largest count accepted sum below 2**63 - 1 (the monthly rollups hold such sums)."""
    from core.validators import MAX_DAILY_COUNT
    from ingestion.exceptions import COUNT_TOO_LARGE

    assert 31 * MAX_DAILY_COUNT < 2**63 - 1
    largest = MAX_DAILY_COUNT
    rows = [metric_row("alice", views=largest, qualified=largest),
            metric_row("bob", views=largest + 1, qualified=1),
            metric_row("carol", likes=10**18)]
    job = ingest(write_file(tmp_path, rows))

    assert (job.rows_loaded, job.rows_rejected) == (1, 2)
    assert stored()[("alice", DAY)][:2] == (largest, largest)
    assert [(r["row"], r["column"], r["reason"]) for r in report_rows(job)] == [
        ("2", "views", COUNT_TOO_LARGE.format(value=largest + 1)),
        ("3", "likes", COUNT_TOO_LARGE.format(value=10**18)),
    ]
