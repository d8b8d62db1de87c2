"""The admin's daily metric storage page (partnerships.services.partitions.metric_storage_overview): each month's
table, rows and state, and what the beat tasks will do with it; a plain sentence on SQLite."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core import periods
from core.sql import execute
from partnerships.models import DailyMetric
from partnerships.services import partitions
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory

TODAY = timezone.localdate()
THIS_MONTH = periods.month_start(TODAY)
TABLE = DailyMetric._meta.db_table
URL = "/admin/partnerships/dailymetric/storage/"


def test_on_sqlite_the_page_says_there_is_one_table(admin_client):
    if partitions.partitioned():
        pytest.skip("SQLite only")
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert b"one plain table" in response.content
    assert partitions.metric_storage_overview() == []


def test_the_list_links_to_the_page_and_staff_without_view_permission_are_refused(admin_client, client,
                                                                                 django_user_model):
    assert URL.encode() in admin_client.get("/admin/partnerships/dailymetric/").content
    staff = django_user_model.objects.create_user("staff", password="pw-12345-long", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403


@pytest.mark.postgres
def test_every_month_shows_where_its_rows_are_and_what_happens_next(admin_client, settings):
    settings.METRIC_RETENTION_MONTHS = 12
    settings.METRIC_PARTITION_MONTHS_AHEAD = 2
    partner = PartnerFactory()
    old, older = periods.add_months(THIS_MONTH, -14), periods.add_months(THIS_MONTH, -20)
    for day in (TODAY, old, older):
        DailyMetricFactory(partner=partner, day=day)
    partitions.metric_partitions_ensure(today=TODAY)
    partitions.metric_partitions_retire(today=TODAY, keep_months=18)  # `older` is archived, `old` is not yet
    DailyMetricFactory(partner=partner, day=dt.date(2001, 2, 3))  # a month without its partition
    execute(f"ANALYZE {TABLE}")

    months = {(entry.month, entry.state): entry for entry in partitions.metric_storage_overview(today=TODAY)}

    assert months[(THIS_MONTH, "current")].rows == 1
    assert months[(periods.add_months(THIS_MONTH, 2), "ahead")].rows == 0
    assert months[(old, "to archive")].table == partitions.partition_name(old)
    assert months[(older, "archived")].table == f"{partitions.ARCHIVE_SCHEMA}.{partitions.partition_name(older)}"
    assert months[(dt.date(2001, 2, 1), "in the default partition")].rows == 1
    page = admin_client.get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    for shown in (f"{old:%Y-%m}", "to archive", "archived", partitions.partition_name(old)):
        assert shown in text
    assert "the partners&#x27; 30-day statistics read it" in text
