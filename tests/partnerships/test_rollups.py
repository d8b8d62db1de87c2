"""Monthly rollups of daily metrics (issue 18): after any sequence of bulk loads, re-loads with new values and late
rows of earlier months, and after every other writer (ORM, spreadsheet import), each partner-month's rollup row
equals the sums of its daily rows; the rebuild command finds and repairs a rollup that does not."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections import defaultdict
from pathlib import Path

import pytest
import tablib
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.celery import app as celery_app
from core import sql
from ingestion.engine import merge
from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from partnerships import ingest_metrics
from partnerships.ingest_metrics import daily_metrics_ingest
from partnerships.models import DailyMetric, MonthlyMetricRollup
from partnerships.resources.metrics import DailyMetricResource
from partnerships.services import rollups
from partnerships.services.rollups import metric_rollups_mismatches, metric_rollups_rebuild
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory

HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
HANDLES = ("ana", "ben", "cid")
TODAY = timezone.localdate()
# Days from about three months back to today: loads land in three or four months, re-loads hit the same keys.
DAYS = st.integers(min_value=0, max_value=95).map(lambda back: TODAY - dt.timedelta(days=back))
PROFILE = settings(max_examples=25, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def rows_of(handles: tuple[str, ...]) -> st.SearchStrategy:
    return st.tuples(st.sampled_from(handles), DAYS, st.integers(0, 10**9), st.integers(0, 10**9),
                     st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))


ROW = rows_of(HANDLES)
# A load: rows with distinct (handle, day); views >= qualified views (the table's rule).
LOAD = st.lists(ROW, min_size=1, max_size=25, unique_by=lambda row: (row[0], row[1])).map(
    lambda rows: [(h, d, max(v, q), min(v, q), lk, c, s) for h, d, v, q, lk, c, s in rows])

# A load of one day (the everyday file; the merge's change then needs no aggregation): each handle at most once.
ONE_DAY_LOAD = st.tuples(DAYS, st.lists(ROW, min_size=1, max_size=3, unique_by=lambda row: row[0])).map(
    lambda pair: [(h, pair[0], max(v, q), min(v, q), lk, c, s) for h, _, v, q, lk, c, s in pair[1]])


@pytest.fixture(autouse=True)
def _media_and_eager_tasks(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def partners(db):
    return {handle: PartnerFactory(handle=handle) for handle in HANDLES}


def expected_rollups() -> dict[tuple[int, dt.date], tuple]:
    """The invariant computed in Python from the daily rows: sums, peak and count per partner and month."""
    months: dict[tuple[int, dt.date], list] = defaultdict(list)
    for row in DailyMetric.objects.values_list("partner_id", "day", "views", "qualified_views", "likes", "comments",
                                               "shares"):
        months[(row[0], row[1].replace(day=1))].append(row[2:])
    return {key: (*(sum(column) for column in zip(*rows, strict=True)), max(r[1] for r in rows), len(rows))
            for key, rows in months.items()}


def stored_rollups() -> dict[tuple[int, dt.date], tuple]:
    return {(row[0], row[1]): tuple(row[2:]) for row in MonthlyMetricRollup.objects.values_list(
        "partner_id", "month", "views", "qualified_views", "likes", "comments", "shares", "peak_qualified_views",
        "days")}


def assert_rollups_equal_daily_rows() -> None:
    assert stored_rollups() == expected_rollups()
    assert metric_rollups_mismatches() == []


_files = itertools.count()


def bulk_load(directory: Path, rows, *, rollups_kept: bool = True) -> ImportJob:
    path = directory / f"load-{next(_files)}.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows([h, d.isoformat(), v, q, lk, c, s, 1000, 1] for h, d, v, q, lk, c, s in rows)
    path.write_text(buffer.getvalue())
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=path.name, file_path=str(path))
    job = daily_metrics_ingest(job_id=job.pk, refresh=False, rollups_kept=rollups_kept)
    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    return job


# --- the property: any loads, re-loads and late rows -------------------------------------------------------------

@PROFILE
@given(loads=st.lists(LOAD, min_size=1, max_size=4))
def test_rollups_equal_the_daily_sums_after_random_loads_reloads_and_late_rows(partners, tmp_path, loads):
    DailyMetric.objects.all().delete()
    assert not MonthlyMetricRollup.objects.exists()
    for load in loads:
        bulk_load(tmp_path, load)
        assert_rollups_equal_daily_rows()
    # The same loads again change nothing: every row is unchanged, and so is every rollup.
    before = stored_rollups()
    bulk_load(tmp_path, loads[-1])
    assert stored_rollups() == before


@PROFILE
@given(loads=st.lists(ONE_DAY_LOAD, min_size=1, max_size=5))
def test_rollups_equal_the_daily_sums_after_one_day_loads_and_reloads(partners, tmp_path, loads):
    DailyMetric.objects.all().delete()
    assert not MonthlyMetricRollup.objects.exists()
    for load in [*loads, loads[0]]:  # the first day again: a reload, raising or lowering what the others changed
        bulk_load(tmp_path, load)
        assert_rollups_equal_daily_rows()


# A load that may repeat a (handle, day), and name a partner that does not exist ("zoe"): the first row of each
# known key loads, the later ones and zoe's are refused.
REPEATING_LOAD = st.lists(rows_of((*HANDLES, "zoe")), min_size=2, max_size=25).map(
    lambda rows: [(h, d, max(v, q), min(v, q), lk, c, s) for h, d, v, q, lk, c, s in rows])


def stored_daily() -> dict[tuple[str, dt.date], tuple]:
    return {(handle, day): tuple(values) for handle, day, *values in DailyMetric.objects.values_list(
        "partner__handle", "day", "views", "qualified_views", "likes", "comments", "shares")}


@PROFILE
@given(loads=st.lists(REPEATING_LOAD, min_size=1, max_size=3))
def test_loads_repeating_keys_keep_each_key_first_row_and_the_rollups_exact(partners, tmp_path, loads):
    """On PostgreSQL the merge statement itself meets a repeated key or leaves an unknown partner's row out
    (ingestion.engine.merge), the rows are refused after it and, with repeats, the merge runs again: the outcome must
    be the one of refusing them before it (SQLite's way)."""
    DailyMetric.objects.all().delete()
    expected: dict[tuple[str, dt.date], tuple] = {}
    for load in loads:
        first: dict[tuple[str, dt.date], tuple] = {}
        for handle, day, *values in load:
            if handle != "zoe":
                first.setdefault((handle, day), tuple(values))
        job = bulk_load(tmp_path, load)
        assert job.rows_rejected == len(load) - len(first)
        expected.update(first)
        assert stored_daily() == expected
        assert_rollups_equal_daily_rows()


def test_a_reload_that_lowers_the_peak_recomputes_the_month(partners, tmp_path):
    day = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # last month's first day
    bulk_load(tmp_path, [("ana", day, 900, 900, 0, 0, 0), ("ana", day + dt.timedelta(days=1), 500, 400, 1, 1, 1)])
    bulk_load(tmp_path, [("ana", day, 100, 100, 0, 0, 0)])
    rollup = MonthlyMetricRollup.objects.get(partner=partners["ana"], month=day)
    assert (rollup.views, rollup.qualified_views, rollup.peak_qualified_views, rollup.days) == (600, 500, 400, 2)
    assert_rollups_equal_daily_rows()


def test_a_late_row_of_an_earlier_month_changes_only_that_month(partners, tmp_path):
    this_month = TODAY.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    bulk_load(tmp_path, [("ben", this_month, 10, 10, 0, 0, 0)])
    current = MonthlyMetricRollup.objects.get(partner=partners["ben"], month=this_month)

    bulk_load(tmp_path, [("ben", last_month.replace(day=3), 7, 5, 1, 2, 3)])

    assert MonthlyMetricRollup.objects.get(pk=current.pk).views == 10
    late = MonthlyMetricRollup.objects.get(partner=partners["ben"], month=last_month)
    assert (late.views, late.qualified_views, late.likes, late.comments, late.shares, late.days) == (7, 5, 1, 2, 3, 1)


def test_a_months_first_load_and_a_load_reaching_into_a_month_with_rollups_keep_them_exact(partners, tmp_path):
    # The first load of a month inserts its rollup rows without ON CONFLICT (no rollup row in its months yet); a
    # load whose rows also fall in a month that has rollups adds to them.
    this_month = TODAY.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    assert rollups.rollup_months_empty(last_month, this_month)
    bulk_load(tmp_path, [("ana", last_month, 10, 5, 1, 1, 1), ("ben", last_month.replace(day=2), 20, 8, 2, 2, 2)])
    assert not rollups.rollup_months_empty(last_month, this_month)
    assert rollups.rollup_months_empty(this_month, this_month)

    bulk_load(tmp_path, [("ana", last_month.replace(day=3), 3, 3, 0, 0, 0), ("ana", this_month, 7, 6, 0, 0, 0),
                         ("cid", this_month, 4, 4, 0, 0, 0)])

    assert_rollups_equal_daily_rows()
    ana_last = MonthlyMetricRollup.objects.get(partner=partners["ana"], month=last_month)
    assert (ana_last.views, ana_last.qualified_views, ana_last.peak_qualified_views, ana_last.days) == (13, 8, 5, 2)
    assert MonthlyMetricRollup.objects.filter(month=this_month).count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the merge's single statement is PostgreSQL's")
def test_a_months_first_load_that_meets_a_rollup_row_fails_whole_instead_of_adding_to_it(partners, tmp_path,
                                                                                        monkeypatch):
    # Were a rollup row there after all (the check is read under the rollups' lock, so it cannot be), the plain
    # insert fails on the unique (partner, month), and the load with it: no row is added to twice, none written.
    bulk_load(tmp_path, [("ana", TODAY, 10, 5, 0, 0, 0)])
    daily, before = set(DailyMetric.objects.values_list("partner_id", "day", "views")), stored_rollups()
    monkeypatch.setattr(rollups, "rollup_months_empty", lambda first, last: True)

    with pytest.raises(IntegrityError, match="metric_rollup_one_row_per_partner_month"):
        bulk_load(tmp_path, [("ben", TODAY, 4, 4, 0, 0, 0), ("ana", TODAY, 12, 5, 0, 0, 0)])

    job = ImportJob.objects.latest("pk")
    assert (job.status, job.rows_loaded) == (ImportJob.Status.FAILED, 0)
    assert set(DailyMetric.objects.values_list("partner_id", "day", "views")) == daily
    assert stored_rollups() == before


def test_a_load_without_rollup_upkeep_is_what_the_check_catches(partners, tmp_path):
    # The benchmark's switch leaves the rollups stale; the check names the partner-month and the rebuild repairs it.
    bulk_load(tmp_path, [("cid", TODAY, 5, 5, 0, 0, 0)], rollups_kept=False)
    month = TODAY.replace(day=1)
    assert metric_rollups_mismatches() == [(partners["cid"].pk, month)]
    with pytest.raises(CommandError, match=r"1 partner-month\(s\) differ"):
        call_command("rebuild_metric_rollups", "--check")

    call_command("rebuild_metric_rollups", "--month", f"{month:%Y-%m}")

    call_command("rebuild_metric_rollups", "--check")
    assert_rollups_equal_daily_rows()


def test_the_rebuild_command_refuses_a_month_that_is_not_one(db):
    with pytest.raises(CommandError, match="Not a month"):
        call_command("rebuild_metric_rollups", "--month", "2026-13")


def test_rebuild_of_one_month_leaves_the_others_alone(partners):
    september, october = dt.date(2026, 9, 1), dt.date(2026, 10, 1)
    DailyMetricFactory(partner=partners["ana"], day=september.replace(day=5), views=3, qualified_views=2)
    DailyMetricFactory(partner=partners["ana"], day=october.replace(day=5), views=4, qualified_views=4)
    MonthlyMetricRollup.objects.filter(month=october).update(views=999)  # damaged: only a rebuild of October fixes it

    assert metric_rollups_rebuild(months=[september]) == 1

    assert MonthlyMetricRollup.objects.get(month=october).views == 999
    metric_rollups_rebuild(months=[october])
    assert_rollups_equal_daily_rows()


def test_the_merge_and_the_rollups_take_the_same_lock():
    assert rollups.LOCK_NAME == ingest_metrics.LOCK_NAME


# --- every other writer ------------------------------------------------------------------------------------------

def test_orm_writes_keep_the_rollups(partners):
    ana, ben = partners["ana"], partners["ben"]
    day = dt.date(2026, 9, 10)
    row = DailyMetricFactory(partner=ana, day=day, views=10, qualified_views=8, likes=1)
    DailyMetric.objects.bulk_create([DailyMetric(partner=ben, day=day, views=5, qualified_views=5),
                                     DailyMetric(partner=ben, day=day.replace(month=10), views=7, qualified_views=1)])
    assert_rollups_equal_daily_rows()

    row.day = dt.date(2026, 8, 31)  # moved to another month: both months change
    row.save()
    assert_rollups_equal_daily_rows()
    assert not MonthlyMetricRollup.objects.filter(partner=ana, month=day.replace(day=1)).exists()

    DailyMetric.objects.filter(partner=ben).update(views=50)
    assert_rollups_equal_daily_rows()
    DailyMetric.objects.filter(partner=ben, day__month=10).delete()
    assert_rollups_equal_daily_rows()
    row.delete()
    assert_rollups_equal_daily_rows()
    assert list(MonthlyMetricRollup.objects.values_list("partner_id", "month", "views")) == [
        (ben.pk, dt.date(2026, 9, 1), 50)]


def test_orm_writes_in_one_transaction_take_no_lock_per_row(partners, locks_held):
    # django-import-export's default resource saves a file's rows one by one in one transaction. Each ORM write
    # used to recompute its rollups through a temporary table, created and dropped: about six locks that PostgreSQL
    # keeps until the transaction ends, so 10,000 rows filled the server's lock table ("out of shared memory")
    # from row 4,091 on (bench/ingest.py). The locks held must not grow with the rows written.
    ana, first = partners["ana"], dt.date(2026, 9, 1)
    with transaction.atomic():
        DailyMetric(partner=ana, day=first, views=2, qualified_views=1).save()
        before = locks_held()
        for offset in range(1, 29):
            DailyMetric(partner=ana, day=first + dt.timedelta(days=offset), views=2, qualified_views=1).save()
        assert locks_held() - before < 5
    assert_rollups_equal_daily_rows()
    assert MonthlyMetricRollup.objects.get(partner=ana, month=first).days == 29


def test_a_write_of_more_pairs_than_a_chunk_keeps_the_rollups(partners, monkeypatch):
    # On SQLite the recomputed (partner, month) pairs go in chunks (core.sql.pair_relations); PostgreSQL takes them
    # at once.
    monkeypatch.setattr(sql, "PAIRS_CHUNK", 2)
    DailyMetric.objects.bulk_create([DailyMetric(partner=partner, day=day, views=3, qualified_views=2)
                                     for partner in partners.values()
                                     for day in (dt.date(2026, 8, 31), dt.date(2026, 9, 1), dt.date(2026, 9, 2))])
    assert MonthlyMetricRollup.objects.count() == 6
    assert_rollups_equal_daily_rows()


def test_the_spreadsheet_import_keeps_the_rollups(partners):
    DailyMetricFactory(partner=partners["ana"], day=TODAY, views=1, qualified_views=1)
    dataset = tablib.Dataset(headers=HEADER)
    dataset.append(["ana", TODAY.isoformat(), 40, 30, 3, 2, 1, 100, 1])
    dataset.append(["ben", (TODAY - dt.timedelta(days=40)).isoformat(), 9, 9, 0, 0, 0, 100, 0])

    result = DailyMetricResource().import_data(dataset, dry_run=False, use_transactions=True)

    assert not result.has_errors()
    assert not result.has_validation_errors()
    assert DailyMetric.objects.get(partner=partners["ana"], day=TODAY).views == 40
    assert_rollups_equal_daily_rows()


def test_a_spreadsheet_preview_leaves_the_rollups_as_they_were(partners):
    DailyMetricFactory(partner=partners["ana"], day=TODAY, views=1, qualified_views=1)
    before = stored_rollups()
    dataset = tablib.Dataset(headers=HEADER)
    dataset.append(["ana", TODAY.isoformat(), 40, 30, 3, 2, 1, 100, 1])

    DailyMetricResource().import_data(dataset, dry_run=True, use_transactions=True)

    assert stored_rollups() == before


def test_a_load_too_large_to_list_its_partners_counts_its_rows_and_keeps_the_rollups(partners, tmp_path, monkeypatch):
    # Above the listing limit the merge only counts the rows it changed (on PostgreSQL: the count the statement
    # that also changes the rollups selects).
    monkeypatch.setattr(merge, "PARTNER_LIST_LIMIT", 1)
    last_month = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    rows = [("ana", last_month, 5, 5, 0, 0, 0), ("ben", last_month, 6, 1, 0, 0, 0), ("ben", TODAY, 1, 1, 1, 1, 1)]
    assert bulk_load(tmp_path, rows).rows_loaded == 3
    assert bulk_load(tmp_path, [("ana", last_month, 2, 2, 0, 0, 0), *rows[1:]]).rows_loaded == 1
    assert_rollups_equal_daily_rows()
    assert MonthlyMetricRollup.objects.get(partner=partners["ana"], month=last_month).peak_qualified_views == 2
