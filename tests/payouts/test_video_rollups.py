"""Monthly rollups of video views (issue 18): after any sequence of writes of video daily views (loads of new rows,
re-loads of the same days with new values, late rows of earlier months, edits that move a row to another month,
deletes), each video-month's rollup row equals the sum and count of its daily rows; the rebuild command finds and
repairs a rollup that does not."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payouts.models import Video, VideoDailyViews, VideoMonthlyViews
from payouts.services import video_rollups
from payouts.services.video_rollups import video_rollups_mismatches, video_rollups_rebuild
from tests.partnerships.factories import PartnerFactory

PROFILE = settings(max_examples=25, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FIRST = dt.date(2026, 6, 1)
# Days over about three months: loads land in three or four months, re-loads hit the same keys.
DAYS = st.integers(min_value=0, max_value=100).map(lambda offset: FIRST + dt.timedelta(days=offset))
VIEWS = st.integers(0, 10**12)
# A load: rows with distinct (video, day) of the three videos.
LOAD = st.lists(st.tuples(st.integers(0, 2), DAYS, VIEWS), min_size=1, max_size=20,
                unique_by=lambda row: (row[0], row[1]))
STEP = st.one_of(
    st.tuples(st.just("load"), LOAD),  # bulk_create, updating the days already stored (a re-load)
    st.tuples(st.just("update"), st.integers(0, 2), VIEWS),  # a queryset update of one video's rows
    st.tuples(st.just("move"), DAYS),  # one row's save() with another day (maybe another month)
    st.tuples(st.just("delete"), st.integers(0, 2), DAYS),  # a queryset delete of one video's rows from a day
    st.tuples(st.just("remove"),),  # one row's delete()
)


@pytest.fixture
def videos(db):
    partner = PartnerFactory()
    return [Video.objects.create(partner=partner, external_id=f"rollup-{index}", duration_seconds=90,
                                 posted_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC)) for index in range(3)]


def expected_rollups() -> dict[tuple[int, dt.date], tuple[int, int]]:
    """The invariant computed in Python from the daily rows: sum and count per video and month."""
    months: dict[tuple[int, dt.date], list[int]] = defaultdict(list)
    for video_id, day, views in VideoDailyViews.objects.values_list("video_id", "day", "qualified_views"):
        months[(video_id, day.replace(day=1))].append(views)
    return {key: (sum(views), len(views)) for key, views in months.items()}


def stored_rollups() -> dict[tuple[int, dt.date], tuple[int, int]]:
    return {(video_id, month): (views, days) for video_id, month, views, days in
            VideoMonthlyViews.objects.values_list("video_id", "month", "qualified_views", "days")}


def assert_rollups_equal_daily_rows() -> None:
    assert stored_rollups() == expected_rollups()
    assert video_rollups_mismatches() == []


def load(videos, rows) -> None:
    VideoDailyViews.objects.bulk_create(
        [VideoDailyViews(video=videos[index], day=day, qualified_views=views) for index, day, views in rows],
        update_conflicts=True, unique_fields=["video", "day"], update_fields=["qualified_views"])


def apply(videos, step) -> None:
    kind, *args = step
    first = VideoDailyViews.objects.order_by("pk").first()
    if kind == "load":
        load(videos, args[0])
    elif kind == "update":
        VideoDailyViews.objects.filter(video=videos[args[0]]).update(qualified_views=args[1])
    elif kind == "move" and first is not None:
        if not VideoDailyViews.objects.filter(video_id=first.video_id, day=args[0]).exists():
            first.day = args[0]
            first.save()
    elif kind == "delete":
        VideoDailyViews.objects.filter(video=videos[args[0]], day__gte=args[1]).delete()
    elif kind == "remove" and first is not None:
        first.delete()


# --- the property: any loads, re-loads, late rows, edits and deletes --------------------------------------------

@PROFILE
@given(steps=st.lists(STEP, min_size=1, max_size=6))
def test_rollups_equal_the_daily_sums_after_random_writes(videos, steps):
    VideoDailyViews.objects.all().delete()
    assert not VideoMonthlyViews.objects.exists()
    for step in steps:
        apply(videos, step)
        assert_rollups_equal_daily_rows()


def test_a_late_row_of_an_earlier_month_changes_only_that_month(videos):
    load(videos, [(0, dt.date(2026, 9, 2), 10)])
    current = VideoMonthlyViews.objects.get(video=videos[0], month=dt.date(2026, 9, 1))

    load(videos, [(0, dt.date(2026, 8, 31), 7), (0, dt.date(2026, 8, 3), 5)])

    assert VideoMonthlyViews.objects.get(pk=current.pk).qualified_views == 10
    late = VideoMonthlyViews.objects.get(video=videos[0], month=dt.date(2026, 8, 1))
    assert (late.qualified_views, late.days) == (12, 2)


def test_a_reload_replaces_the_days_it_repeats(videos):
    load(videos, [(1, dt.date(2026, 8, 1), 100), (1, dt.date(2026, 8, 2), 50)])
    load(videos, [(1, dt.date(2026, 8, 2), 20), (1, dt.date(2026, 8, 3), 1)])
    rollup = VideoMonthlyViews.objects.get(video=videos[1])
    assert (rollup.qualified_views, rollup.days) == (121, 3)


def test_orm_writes_in_one_transaction_take_no_lock_per_row(videos, locks_held):
    # As the partners' daily metrics (tests/partnerships/test_rollups.py): no temporary table per write, whose locks
    # PostgreSQL would keep until the transaction ends.
    with transaction.atomic():
        VideoDailyViews(video=videos[0], day=FIRST, qualified_views=3).save()
        before = locks_held()
        for offset in range(1, 29):
            VideoDailyViews(video=videos[0], day=FIRST + dt.timedelta(days=offset), qualified_views=3).save()
        assert locks_held() - before < 5
    assert_rollups_equal_daily_rows()
    assert VideoMonthlyViews.objects.get(video=videos[0]).days == 29


def test_deleting_a_video_deletes_its_rollups(videos):
    load(videos, [(2, dt.date(2026, 8, 1), 100)])
    videos[2].delete()
    assert not VideoMonthlyViews.objects.exists()


def test_rows_written_around_the_orm_are_what_the_check_catches_and_the_rebuild_repairs(videos):
    # Rows inserted straight into the table (the demo's seeding) leave the rollups stale until a rebuild.
    load(videos, [(0, dt.date(2026, 9, 5), 4)])
    VideoMonthlyViews.objects.all().delete()
    month = dt.date(2026, 9, 1)
    assert video_rollups_mismatches() == [(videos[0].pk, month)]
    with pytest.raises(CommandError, match=r"1 video-month\(s\) differ"):
        call_command("rebuild_video_rollups", "--check")

    call_command("rebuild_video_rollups", "--month", f"{month:%Y-%m}")

    call_command("rebuild_video_rollups", "--check")
    assert_rollups_equal_daily_rows()


def test_rebuild_of_one_month_leaves_the_others_alone(videos):
    september, october = dt.date(2026, 9, 1), dt.date(2026, 10, 1)
    load(videos, [(0, september.replace(day=5), 3), (0, october.replace(day=5), 4)])
    VideoMonthlyViews.objects.filter(month=october).update(qualified_views=999)  # damaged

    assert video_rollups_rebuild(months=[september]) == 1

    assert VideoMonthlyViews.objects.get(month=october).qualified_views == 999
    video_rollups_rebuild(months=[october])
    assert_rollups_equal_daily_rows()


def test_the_rebuild_command_refuses_a_month_that_is_not_one(db):
    with pytest.raises(CommandError, match="Not a month"):
        call_command("rebuild_video_rollups", "--month", "2026-13")


def test_the_rollups_take_the_lock_a_bulk_load_of_video_views_would_take():
    assert f"ingest:{VideoDailyViews._meta.db_table}" == video_rollups.LOCK_NAME
