"""Migration payouts 0022 creates the videos' monthly rollups from the video views already stored."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from payouts.models import Video, VideoMonthlyViews
from payouts.services.video_rollups import video_rollups_mismatches
from tests.partnerships.factories import PartnerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.migrate(targets).apps


def test_the_migration_sums_the_views_already_stored():
    apps = migrate([("payouts", "0021_pain002_status_reports")])
    try:
        video = Video.objects.create(partner=PartnerFactory(), external_id="before-rollups", duration_seconds=90,
                                     posted_at=dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
        apps.get_model("payouts", "VideoDailyViews").objects.bulk_create([  # the model of then: no upkeep
            apps.get_model("payouts", "VideoDailyViews")(video_id=video.pk, day=day, qualified_views=views)
            for day, views in ((dt.date(2026, 8, 31), 5), (dt.date(2026, 8, 1), 7), (dt.date(2026, 9, 1), 11))])
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert sorted(VideoMonthlyViews.objects.values_list("month", "qualified_views", "days")) == [
        (dt.date(2026, 8, 1), 12, 2), (dt.date(2026, 9, 1), 11, 1)]
    assert video_rollups_mismatches() == []
