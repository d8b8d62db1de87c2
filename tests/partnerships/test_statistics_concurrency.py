"""Loads and statistics refreshes at the same moment (PostgreSQL, each on its own connection): whatever order they
commit in, the refresh after the loads ends where the full refresh is, no change counted twice or lost."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from partnerships.models import StatisticsChange
from partnerships.services.statistics import partner_statistics_refresh, partner_statistics_refresh_changed
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory
from tests.partnerships.test_statistics_changes import AS_OF, HANDLES, bulk_load, full_refresh_result, statistics

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def partners():
    return {handle: PartnerFactory(handle=handle) for handle in HANDLES}


def run_together(*calls) -> list:
    """Each call in its own thread (own connection), released at the same instant."""
    barrier = threading.Barrier(len(calls))
    errors: list = []

    def runner(call):
        try:
            barrier.wait()
            call()
        except Exception as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.parametrize("repeat", range(2))
def test_loads_racing_both_refreshes_end_where_the_full_refresh_is(partners, tmp_path, repeat):
    DailyMetricFactory(partner=partners["ana"], day=AS_OF, views=70, followers=3)
    partner_statistics_refresh(as_of=AS_OF)
    day = AS_OF - dt.timedelta(days=repeat)
    loads = [
        [("ana", day, 100 + repeat, 50, 1, 1, 1, 10, 1), ("ben", AS_OF, 7, 7, 0, 0, 0, 11, 1)],
        [("ana", day, 300, 300, 2, 2, 2, 12, 2), ("cid", AS_OF - dt.timedelta(days=3), 9, 1, 0, 0, 0, 13, 1)],
        [("dee", AS_OF, 5, 5, 5, 5, 5, 14, 5), ("ben", AS_OF - dt.timedelta(days=1), 8, 8, 0, 0, 0, 15, 1)],
    ]

    errors = run_together(
        *(lambda rows=rows: bulk_load(tmp_path, rows) for rows in loads),
        lambda: partner_statistics_refresh_changed(as_of=AS_OF),
        lambda: partner_statistics_refresh(as_of=AS_OF),
        lambda: partner_statistics_refresh_changed(as_of=AS_OF),
    )

    assert errors == []
    partner_statistics_refresh_changed(as_of=AS_OF)  # the refresh the last load queued
    assert not StatisticsChange.objects.exists()
    assert statistics() == full_refresh_result()
