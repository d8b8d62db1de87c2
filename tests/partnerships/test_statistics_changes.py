"""The statistics refresh after a load (issue 18): it adds the changes the merge stored for the partners the load
changed, and gives exactly what the full refresh gives, after any sequence of loads, re-loads, late rows and rows
after the statistics' day, with or without a refresh between loads."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from pathlib import Path

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.celery import app as celery_app
from ingestion.engine import merge
from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from partnerships.ingest_metrics import daily_metrics_ingest
from partnerships.models import DailyMetric, Partner, PartnerStatistics, StatisticsChange
from partnerships.services.statistics import partner_statistics_refresh, partner_statistics_refresh_changed
from partnerships.tasks import refresh_partner_statistics_task
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory

HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
HANDLES = ("ana", "ben", "cid", "dee")
TODAY = timezone.localdate()
AS_OF = TODAY - dt.timedelta(days=2)  # loads may also bring the days after it (up to tomorrow)
# From before the 30-day window to after the statistics' day: rows in it, late rows out of it, rows after it.
DAYS = st.integers(min_value=-3, max_value=40).map(lambda back: AS_OF - dt.timedelta(days=back))
PROFILE = settings(max_examples=30, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
COUNT = st.integers(0, 10**6)
ROW = st.tuples(st.sampled_from(HANDLES), DAYS, COUNT, COUNT, COUNT, COUNT, COUNT, COUNT, st.integers(0, 50))
# A load: rows with distinct (handle, day); views >= qualified views (the table's rule).
LOAD = st.lists(ROW, min_size=1, max_size=20, unique_by=lambda row: (row[0], row[1])).map(
    lambda rows: [(h, d, max(v, q), min(v, q), *rest) for h, d, v, q, *rest in rows])


@pytest.fixture(autouse=True)
def _media_and_eager_tasks(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def partners(db):
    return {handle: PartnerFactory(handle=handle) for handle in HANDLES}


_files = itertools.count()


def bulk_load(directory: Path, rows, *, refresh: bool = False) -> ImportJob:
    path = directory / f"load-{next(_files)}.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows([handle, day.isoformat(), *counts] for handle, day, *counts in rows)
    path.write_text(buffer.getvalue())
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=path.name, file_path=str(path))
    job = daily_metrics_ingest(job_id=job.pk, refresh=refresh)
    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    return job


def statistics() -> dict[int, tuple]:
    """Every statistics row but the moment it was written."""
    return {row[0]: row[1:] for row in PartnerStatistics.objects.values_list(
        "partner_id", "as_of", "followers", "views_30d", "qualified_views_30d", "likes_30d", "comments_30d",
        "shares_30d", "posts_30d", "avg_views_per_post", "engagement_rate")}


def full_refresh_result() -> dict[int, tuple]:
    """What the full refresh gives now (rolled back, so the state is left as it was)."""
    from django.db import transaction

    with transaction.atomic():
        partner_statistics_refresh(as_of=AS_OF)
        result = statistics()
        transaction.set_rollback(True)
    return result


# --- the property --------------------------------------------------------------------------------------------------

@PROFILE
@given(before=LOAD, loads=st.lists(st.tuples(LOAD, st.booleans()), min_size=1, max_size=4))
def test_the_refresh_after_loads_equals_the_full_refresh(partners, tmp_path, before, loads):
    DailyMetric.objects.all().delete()
    PartnerStatistics.objects.all().delete()
    # Rows written before the last full refresh (by the ORM: they leave no change behind).
    for handle, day, views, qualified, likes, comments, shares, followers, posts in before:
        DailyMetricFactory(partner=partners[handle], day=day, views=views, qualified_views=qualified, likes=likes,
                           comments=comments, shares=shares, followers=followers, posts=posts)
    partner_statistics_refresh(as_of=AS_OF)
    assert not StatisticsChange.objects.exists()
    for rows, refresh_now in loads:
        bulk_load(tmp_path, rows)
        if refresh_now:  # sometimes a refresh after each load, sometimes one after several
            partner_statistics_refresh_changed(as_of=AS_OF)
            assert statistics() == full_refresh_result()
    partner_statistics_refresh_changed(as_of=AS_OF)
    assert not StatisticsChange.objects.exists()
    assert statistics() == full_refresh_result()


# --- examples ------------------------------------------------------------------------------------------------------

def test_both_refreshes_leave_the_planner_settings_as_they_were(partners, tmp_path):
    """The claim and the full refresh sum in partner order (hashing turned off for their statement only): the
    statements after them in the caller's transaction plan as before."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL); runs in .ci/run")
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=100, followers=5, posts=1)
    partner_statistics_refresh(as_of=AS_OF)
    bulk_load(tmp_path, [("ana", AS_OF, 200, 0, 0, 0, 0, 6, 2), ("ben", AS_OF, 50, 0, 0, 0, 0, 1, 1)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_hashagg')")
        before = cursor.fetchone()[0]
        assert partner_statistics_refresh_changed(as_of=AS_OF) == 2
        cursor.execute("SELECT current_setting('enable_hashagg')")
        assert cursor.fetchone()[0] == before
        expected = statistics()
        assert partner_statistics_refresh(as_of=AS_OF) == 2
        cursor.execute("SELECT current_setting('enable_hashagg')")
        assert cursor.fetchone()[0] == before
    assert statistics() == expected


def test_the_refresh_after_a_load_updates_every_statistics_row_in_place(partners, tmp_path):
    """PostgreSQL (migration 0027): no column the refresh changes is indexed and each page keeps room, so every
    changed partner's new row version is heap-only (no index entry written). An index on a figure (followers
    changes at every load) would make these updates write the index again."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL); runs in .ci/run")
    for handle in HANDLES:
        DailyMetricFactory(partner=partners[handle], day=AS_OF - dt.timedelta(days=1), views=100, followers=5, posts=1)
    partner_statistics_refresh(as_of=AS_OF)
    bulk_load(tmp_path, [(handle, AS_OF, 200, 0, 0, 0, 0, 6, 2) for handle in HANDLES])
    table = PartnerStatistics._meta.db_table
    with connection.cursor() as cursor:
        # This transaction's own counters, so rows other tests or the refresh before wrote do not count.
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s", [table])
        upd_before, hot_before = cursor.fetchone()
        assert partner_statistics_refresh_changed(as_of=AS_OF) == len(HANDLES)
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s", [table])
        upd, hot = cursor.fetchone()
    assert upd - upd_before == len(HANDLES)
    assert hot - hot_before == len(HANDLES)
    assert statistics() == full_refresh_result()


def test_only_the_changed_partners_are_written(partners, tmp_path):
    for handle in ("ana", "ben"):
        DailyMetricFactory(partner=partners[handle], day=AS_OF, views=100, likes=10, followers=5, posts=1)
    partner_statistics_refresh(as_of=AS_OF)
    untouched = PartnerStatistics.objects.get(partner=partners["ben"]).refreshed_at
    bulk_load(tmp_path, [("ana", AS_OF - dt.timedelta(days=1), 300, 200, 30, 3, 3, 7, 2),
                         ("ana", AS_OF, 100, 0, 10, 0, 0, 6, 1),  # unchanged except followers
                         ("ana", AS_OF + dt.timedelta(days=1), 9, 9, 9, 9, 9, 99, 9)])  # after the day: not counted
    assert partner_statistics_refresh_changed(as_of=AS_OF) == 1
    ana = PartnerStatistics.objects.get(partner=partners["ana"])
    assert (ana.views_30d, ana.qualified_views_30d, ana.likes_30d, ana.posts_30d, ana.followers) == (400, 200, 40, 3, 6)
    assert (ana.avg_views_per_post, str(ana.engagement_rate)) == (133, "11.50")  # 400 // 3; (40+3+3) / 400
    assert PartnerStatistics.objects.get(partner=partners["ben"]).refreshed_at == untouched
    assert statistics() == full_refresh_result()


def test_a_partner_whose_figures_the_load_did_not_change_is_not_written(partners, tmp_path):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=100, likes=10, followers=5, posts=1)
    partner_statistics_refresh(as_of=AS_OF)
    before = PartnerStatistics.objects.get(partner=partners["ana"])
    bulk_load(tmp_path, [("ana", AS_OF - dt.timedelta(days=35), 300, 200, 30, 3, 3, 7, 2),  # before the window
                         ("ana", AS_OF + dt.timedelta(days=1), 9, 9, 9, 9, 9, 99, 9)])  # after the day
    assert StatisticsChange.objects.count() == 2
    assert partner_statistics_refresh_changed(as_of=AS_OF) == 0
    assert not StatisticsChange.objects.exists()
    after = PartnerStatistics.objects.get(partner=partners["ana"])
    assert (after.refreshed_at, after.views_30d, after.followers) == (before.refreshed_at, 100, 5)
    assert statistics() == full_refresh_result()


def test_a_partner_new_in_the_window_gets_statistics_and_one_only_before_it_does_not(partners, tmp_path):
    partner_statistics_refresh(as_of=AS_OF)
    DailyMetricFactory(partner=partners["dee"], day=AS_OF, views=1)  # so the statistics table is not empty
    partner_statistics_refresh(as_of=AS_OF)
    bulk_load(tmp_path, [("ana", AS_OF, 10, 5, 1, 1, 1, 50, 1), ("ben", AS_OF - dt.timedelta(days=40), 10, 5, 1, 1, 1,
                                                                50, 1)])
    partner_statistics_refresh_changed(as_of=AS_OF)
    assert set(statistics()) == {partners["ana"].pk, partners["dee"].pk}
    assert statistics() == full_refresh_result()


def test_statistics_of_another_day_fall_back_to_the_full_refresh(partners, tmp_path):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF - dt.timedelta(days=29), views=70)
    DailyMetricFactory(partner=partners["ben"], day=AS_OF, views=20)
    partner_statistics_refresh(as_of=AS_OF - dt.timedelta(days=1))  # yesterday's: the nightly has not run yet
    bulk_load(tmp_path, [("cid", AS_OF, 10, 5, 1, 1, 1, 50, 1)])
    assert partner_statistics_refresh_changed(as_of=AS_OF) == 3  # everyone's, as of the new day
    assert {row[0] for row in statistics().values()} == {AS_OF}
    assert statistics() == full_refresh_result()
    assert not StatisticsChange.objects.exists()


def test_the_full_refresh_takes_the_waiting_changes_with_it(partners, tmp_path):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=70)
    partner_statistics_refresh(as_of=AS_OF)
    bulk_load(tmp_path, [("ana", AS_OF, 100, 0, 0, 0, 0, 1, 1)])
    assert StatisticsChange.objects.count() == 1
    partner_statistics_refresh(as_of=AS_OF)  # the nightly run comes first: it already holds the change
    assert not StatisticsChange.objects.exists()
    partner_statistics_refresh_changed(as_of=AS_OF)  # so nothing is added twice
    assert PartnerStatistics.objects.get(partner=partners["ana"]).views_30d == 100


def test_a_refresh_of_listed_partners_takes_their_changes_only(partners, tmp_path):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=70)
    partner_statistics_refresh(as_of=AS_OF)
    bulk_load(tmp_path, [("ana", AS_OF, 100, 0, 0, 0, 0, 1, 1), ("ben", AS_OF, 5, 0, 0, 0, 0, 1, 1)])
    partner_statistics_refresh(as_of=AS_OF, partner_ids=[partners["ana"].pk])  # an enrolment's refresh
    assert set(StatisticsChange.objects.values_list("partner_id", flat=True)) == {partners["ben"].pk}
    partner_statistics_refresh_changed(as_of=AS_OF)
    assert statistics() == full_refresh_result()


def test_a_partner_deleted_before_the_refresh_is_skipped(partners, tmp_path):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=70)
    partner_statistics_refresh(as_of=AS_OF)
    bulk_load(tmp_path, [("ben", AS_OF, 100, 0, 0, 0, 0, 1, 1), ("cid", AS_OF, 5, 0, 0, 0, 0, 1, 1)])
    Partner.objects.filter(pk=partners["ben"].pk).delete()
    assert partner_statistics_refresh_changed(as_of=AS_OF) == 1
    assert set(statistics()) == {partners["ana"].pk, partners["cid"].pk}
    assert statistics() == full_refresh_result()


def test_a_load_too_large_to_list_its_partners_refreshes_the_changed_ones(
        partners, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=70)
    partner_statistics_refresh(as_of=TODAY)
    monkeypatch.setattr(merge, "PARTNER_LIST_LIMIT", 1)
    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_load(tmp_path, [("ben", TODAY, 100, 0, 0, 0, 0, 1, 1), ("cid", TODAY, 5, 0, 0, 0, 0, 1, 1)],
                        refresh=True)
    assert job.message.endswith("Statistics of the partners this load changed are being refreshed.")
    assert not StatisticsChange.objects.exists()  # the task ran (eagerly) and took them
    assert {pk: row[2] for pk, row in statistics().items()} == {
        partners["ana"].pk: 70, partners["ben"].pk: 100, partners["cid"].pk: 5}  # ana: untouched


def test_the_task_refreshes_the_changed_partners(partners, tmp_path):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=70)
    partner_statistics_refresh(as_of=AS_OF)
    bulk_load(tmp_path, [("ana", AS_OF, 100, 0, 0, 0, 0, 1, 1)])
    result = refresh_partner_statistics_task.apply(kwargs={"as_of": AS_OF.isoformat(), "changed": True})
    assert result.get() == 1
    assert PartnerStatistics.objects.get(partner=partners["ana"]).views_30d == 100


def test_more_interactions_than_a_thousand_times_the_views_is_the_largest_rate(partners, tmp_path):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=1, likes=10**6)
    partner_statistics_refresh(as_of=AS_OF)
    assert str(PartnerStatistics.objects.get(partner=partners["ana"]).engagement_rate) == "99999.99"
    bulk_load(tmp_path, [("ana", AS_OF, 1, 0, 10**6, 10**6, 0, 1, 1)])
    partner_statistics_refresh_changed(as_of=AS_OF)
    assert str(PartnerStatistics.objects.get(partner=partners["ana"]).engagement_rate) == "99999.99"
    assert statistics() == full_refresh_result()


# --- the ORM's writes (admin edits, fixtures) store their changes too ---------------------------------------------

def orm_edit(partners, edit) -> None:
    """One ORM write of daily metrics, as an admin edit or a fixture makes it."""
    kind, (handle, day, views, qualified, likes, comments, shares, followers, posts), other_day = edit
    rows = DailyMetric.objects.filter(partner=partners[handle])
    row = rows.filter(day=day).first()
    if kind == "save":  # an admin page's form: a new row or new values for one
        row = row or DailyMetric(partner=partners[handle], day=day)
        row.views, row.qualified_views, row.likes, row.comments = views, qualified, likes, comments
        row.shares, row.followers, row.posts = shares, followers, posts
        row.save()
    elif kind == "move" and row and not rows.filter(day=other_day).exists():  # the day corrected
        row.day = other_day
        row.save()
    elif kind == "delete" and row:
        row.delete()
    elif kind == "delete_all":
        rows.filter(day__lte=day).delete()
    elif kind == "update":
        rows.update(likes=likes, followers=followers)
    elif kind == "bulk_update":
        changed = list(rows)
        for each in changed:
            each.comments, each.posts = comments, posts
        DailyMetric.objects.bulk_update(changed, ["comments", "posts"])
    elif kind == "bulk_create" and row is None:
        DailyMetric.objects.bulk_create([DailyMetric(partner=partners[handle], day=day, views=views, likes=likes,
                                                     qualified_views=qualified, followers=followers, posts=posts)])


ORM_EDIT = st.tuples(st.sampled_from(("save", "move", "delete", "delete_all", "update", "bulk_update", "bulk_create")),
                     LOAD.map(lambda rows: rows[0]), DAYS)


@PROFILE
@given(before=LOAD, steps=st.lists(st.tuples(st.one_of(LOAD, ORM_EDIT), st.booleans()), min_size=1, max_size=6))
def test_the_refresh_after_orm_edits_and_loads_equals_the_full_refresh(partners, tmp_path, before, steps):
    DailyMetric.objects.all().delete()
    PartnerStatistics.objects.all().delete()
    bulk_load(tmp_path, before)
    partner_statistics_refresh(as_of=AS_OF)
    for step, refresh_now in steps:
        if isinstance(step, list):
            bulk_load(tmp_path, step)
        else:
            orm_edit(partners, step)
        if refresh_now:
            partner_statistics_refresh_changed(as_of=AS_OF)
            assert statistics() == full_refresh_result()
    partner_statistics_refresh_changed(as_of=AS_OF)
    assert not StatisticsChange.objects.exists()
    assert statistics() == full_refresh_result()


def test_an_admin_edit_of_a_day_is_in_the_refresh_after_a_load(partners):
    day = DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=70, likes=7, followers=5, posts=1)
    partner_statistics_refresh(as_of=AS_OF)
    day.views, day.followers = 100, 9
    day.save()
    assert list(StatisticsChange.objects.values_list("partner_id", "views", "added")) == [(partners["ana"].pk, 30, 0)]
    assert partner_statistics_refresh_changed(as_of=AS_OF) == 1
    ana = PartnerStatistics.objects.get(partner=partners["ana"])
    assert (ana.views_30d, ana.followers) == (100, 9)
    day.delete()
    assert list(StatisticsChange.objects.values_list("views", "added")) == [(-100, -1)]
    partner_statistics_refresh_changed(as_of=AS_OF)
    assert PartnerStatistics.objects.get(partner=partners["ana"]).views_30d == 0
    assert statistics() == full_refresh_result()
