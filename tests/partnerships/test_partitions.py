"""Daily metrics partitioned by month on PostgreSQL (issue 18, partnerships.services.partitions): the table is
partitioned after migrate, each month's partition exists before the month starts (made idempotently, also twice at
once), a row of a month without a partition lands in the default partition and moves when its month's partition is
made, and the bulk merge and the ORM give the same rows and rollups across a month boundary."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from core import periods
from core.admin import EstimatedCountPaginator
from core.sql import execute, fetchone
from partnerships.models import DailyMetric, MonthlyMetricRollup
from partnerships.services import partitions
from partnerships.services.rollups import metric_rollups_mismatches
from partnerships.tasks import metric_partitions_ensure_task, metric_partitions_retire_task
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory
from tests.partnerships.test_rollups import assert_rollups_equal_daily_rows, bulk_load, stored_rollups

POSTGRES = pytest.mark.postgres
TODAY = timezone.localdate()
THIS_MONTH = periods.month_start(TODAY)
TABLE = DailyMetric._meta.db_table


def partition_of(row: DailyMetric) -> str:
    return fetchone(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [row.pk])[0]


@POSTGRES
def test_the_table_is_partitioned_by_month_with_a_default_partition(db):
    assert partitions.partitioned()
    assert fetchone("SELECT pg_get_partkeydef(%s::regclass)", [TABLE])[0] == "RANGE (day)"
    attached = partitions.metric_partitions()
    # The migration made this month and the next ones (the beat task keeps them ahead).
    assert {periods.add_months(THIS_MONTH, n) for n in range(3)} <= set(attached)
    assert attached[THIS_MONTH] == f"{TABLE}_y{THIS_MONTH:%Y}m{THIS_MONTH:%m}"
    row = DailyMetricFactory(day=TODAY)
    assert partition_of(row) == attached[THIS_MONTH]
    assert DailyMetric.objects.get(pk=row.pk).day == TODAY  # Django's primary key is still id


@POSTGRES
def test_ensure_creates_the_coming_months_before_they_start_and_again_nothing(db, settings):
    settings.METRIC_PARTITION_MONTHS_AHEAD = 2
    today = dt.date(2031, 5, 20)

    made = partitions.metric_partitions_ensure(today=today)

    assert made.created == [dt.date(2031, 5, 1), dt.date(2031, 6, 1), dt.date(2031, 7, 1)]
    assert partitions.metric_partitions_ensure(today=today).created == []
    # June's partition exists in May: a row of 1 June goes there, not to the default partition.
    row = DailyMetricFactory(day=dt.date(2031, 6, 1))
    assert partition_of(row) == f"{TABLE}_y2031m06"
    assert partitions.metric_partitions_ensure(today=dt.date(2031, 6, 1)).created == [dt.date(2031, 8, 1)]


@POSTGRES
def test_a_row_of_a_month_without_partition_lands_in_default_and_moves_with_its_month(db):
    early = DailyMetricFactory(day=dt.date(2019, 3, 31), views=7, qualified_views=5)
    later = DailyMetricFactory(partner=early.partner, day=dt.date(2019, 4, 1), views=3, qualified_views=3)
    assert partition_of(early) == partition_of(later) == f"{TABLE}_default"
    rollups_before = stored_rollups()

    made = partitions.metric_partitions_ensure(today=TODAY)

    assert {dt.date(2019, 3, 1), dt.date(2019, 4, 1)} <= set(made.created)
    assert made.moved_rows == 2
    assert partition_of(early) == f"{TABLE}_y2019m03"
    assert partition_of(later) == f"{TABLE}_y2019m04"
    assert partitions.default_partition_rows() == 0
    assert DailyMetric.objects.get(pk=early.pk).views == 7  # the same row, id and all
    assert stored_rollups() == rollups_before
    assert metric_rollups_mismatches() == []


@POSTGRES
def test_the_command_lists_and_ensures(db, capsys):
    DailyMetricFactory(day=dt.date(2018, 1, 15))
    call_command("metric_partitions", "--ensure", "--months-ahead", "1")
    assert "2018-01" in capsys.readouterr().out
    call_command("metric_partitions")
    listed = capsys.readouterr().out
    assert f"2018-01  {TABLE}_y2018m01" in listed
    assert "default partition: 0 rows" in listed
    with pytest.raises(CommandError, match="METRIC_PARTITION_MONTHS_AHEAD must be a whole number"):
        call_command("metric_partitions", "--ensure", "--months-ahead", "5000")


@POSTGRES
@pytest.mark.parametrize("path", ["bulk", "orm"])
def test_bulk_merge_and_orm_agree_across_a_month_boundary(db, settings, tmp_path, path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    ana, ben = PartnerFactory(handle="ana"), PartnerFactory(handle="ben")
    last_day = THIS_MONTH - dt.timedelta(days=1)
    # Two boundaries: one between attached partitions, one inside the default partition (2020 has none).
    days = [last_day, THIS_MONTH, dt.date(2020, 1, 31), dt.date(2020, 2, 1)]
    rows = [(partner, day, 100 * n + i, 50 * n + i, n, i, 1)
            for n, partner in enumerate((ana, ben), start=1) for i, day in enumerate(days)]
    again = [(partner, day, views * 2, qualified, likes, comments, shares)  # a re-load changing every row
             for partner, day, views, qualified, likes, comments, shares in rows]
    for load in (rows, again):
        if path == "bulk":
            bulk_load(tmp_path, [(p.handle, *rest) for p, *rest in load])
        else:
            for partner, day, views, qualified, likes, comments, shares in load:
                DailyMetric.objects.update_or_create(partner=partner, day=day, defaults={
                    "views": views, "qualified_views": qualified, "likes": likes, "comments": comments,
                    "shares": shares, "followers": 1000, "posts": 1})
        assert_rollups_equal_daily_rows()
    partitions.metric_partitions_ensure(today=TODAY)  # 2020's rows move out of the default partition

    stored = sorted(DailyMetric.objects.values_list("partner__handle", "day", "views", "qualified_views", "likes",
                                                    "comments", "shares"))
    assert stored == sorted((p.handle, d, v * 2, q, lk, c, s) for p, d, v, q, lk, c, s in rows)
    assert MonthlyMetricRollup.objects.get(partner=ana, month=dt.date(2020, 1, 1)).views == 2 * 102
    assert MonthlyMetricRollup.objects.get(partner=ana, month=dt.date(2020, 2, 1)).views == 2 * 103
    assert_rollups_equal_daily_rows()


@POSTGRES
def test_the_admin_list_reads_every_partition_newest_first(admin_client, settings):
    rows = [DailyMetricFactory(day=day) for day in (TODAY, dt.date(2020, 5, 1), TODAY - dt.timedelta(days=40))]
    response = admin_client.get("/admin/partnerships/dailymetric/")
    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == sorted((r.pk for r in rows), reverse=True)
    # The estimated count of a partitioned table is its partitions' sum, not the parent's unknown (-1).
    execute(f"ANALYZE {TABLE}")
    settings.ADMIN_ESTIMATED_COUNT_THRESHOLD = 1
    assert EstimatedCountPaginator(DailyMetric.objects.order_by("-id"), 50).count == 3


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_two_ensures_at_once_create_each_month_once():
    barrier, results, errors = threading.Barrier(2), [], []

    def ensure():
        try:
            barrier.wait(timeout=10)
            results.append(partitions.metric_partitions_ensure(months_ahead=2, today=dt.date(2033, 1, 10)).created)
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ensure) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert sorted(month for created in results for month in created) == [
            dt.date(2033, 1, 1), dt.date(2033, 2, 1), dt.date(2033, 3, 1)]
    finally:
        with connection.cursor() as cursor:
            for month in (1, 2, 3):
                cursor.execute(f"DROP TABLE IF EXISTS {TABLE}_y2033m0{month}")


def test_sqlite_keeps_one_table_and_the_tasks_do_nothing(db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    assert not partitions.partitioned()
    with pytest.raises(ValueError, match="not partitioned here"):
        partitions.metric_partitions_ensure()
    assert metric_partitions_ensure_task() == []
    assert metric_partitions_retire_task() == {}
    with pytest.raises(CommandError, match="not partitioned here"):
        call_command("metric_partitions", "--ensure")
