"""Writers of video daily views at the same moment (PostgreSQL, each on its own connection): whatever order they
commit in, each video-month's rollup equals its daily rows' sums, no write lost or counted twice."""

from __future__ import annotations

import datetime as dt

import pytest

from payouts.models import Video, VideoDailyViews
from tests.partnerships.factories import PartnerFactory
from tests.partnerships.test_statistics_concurrency import run_together
from tests.payouts.test_video_rollups import assert_rollups_equal_daily_rows

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
DAY = dt.date(2026, 8, 10)


def reload(video: Video, rows) -> None:
    VideoDailyViews.objects.bulk_create(
        [VideoDailyViews(video=video, day=day, qualified_views=views) for day, views in rows],
        update_conflicts=True, unique_fields=["video", "day"], update_fields=["qualified_views"])


@pytest.mark.parametrize("repeat", range(2))
def test_writers_racing_on_the_same_video_months_keep_the_rollups(repeat):
    partner = PartnerFactory()
    video, other = (Video.objects.create(partner=partner, external_id=f"race-{repeat}-{index}", duration_seconds=90,
                                         posted_at=dt.datetime(2026, 7, 1, tzinfo=dt.UTC)) for index in range(2))
    reload(video, [(DAY, 10), (DAY + dt.timedelta(days=1), 20)])

    errors = run_together(
        lambda: reload(video, [(DAY, 100 + repeat), (DAY + dt.timedelta(days=2), 5)]),
        lambda: reload(video, [(DAY + dt.timedelta(days=3), 7), (DAY - dt.timedelta(days=20), 1)]),
        lambda: VideoDailyViews.objects.filter(video=video, day=DAY + dt.timedelta(days=1)).delete(),
        lambda: VideoDailyViews.objects.filter(video=video).update(qualified_views=3),
        lambda: reload(other, [(DAY, 9)]),
    )

    assert errors == []
    assert_rollups_equal_daily_rows()
