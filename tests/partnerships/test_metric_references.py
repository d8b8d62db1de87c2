"""The partner of daily metrics and of their monthly rollups, checked once per statement by triggers on PostgreSQL
(migration 0025) instead of by foreign keys row by row at commit: the same rows are refused and kept."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from partnerships.models import DailyMetric, MonthlyMetricRollup, Partner
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory

pytestmark = pytest.mark.postgres
DAY = dt.date(2026, 3, 4)
MISSING = 987654321


def run(statement: str, params: dict) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_the_tables_have_no_row_by_row_foreign_key_to_partners(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
                       "('partnerships_dailymetric'::regclass, 'partnerships_monthlymetricrollup'::regclass)")
        assert cursor.fetchall() == []


@pytest.mark.parametrize("statement", [
    "INSERT INTO partnerships_dailymetric (partner_id, day, views, qualified_views, likes, comments, shares, "
    "followers, posts) VALUES (%(partner)s, %(day)s, 1, 1, 0, 0, 0, 0, 0), (%(missing)s, %(day)s, 1, 1, 0, 0, 0, 0, 0)",
    "INSERT INTO partnerships_monthlymetricrollup (partner_id, month, views, qualified_views, likes, comments, shares, "
    "peak_qualified_views, days) VALUES (%(partner)s, %(day)s, 1, 1, 0, 0, 0, 1, 1), "
    "(%(missing)s, %(day)s, 1, 1, 0, 0, 0, 1, 1)",
])
def test_a_row_for_a_partner_that_does_not_exist_is_refused_with_its_statement(db, statement):
    partner = PartnerFactory()
    with pytest.raises(DatabaseError, match=f"refers to partner {MISSING} which does not exist"):
        run(statement, {"partner": partner.pk, "missing": MISSING, "day": DAY.replace(day=1)})
    assert not DailyMetric.objects.exists()
    assert not MonthlyMetricRollup.objects.exists()


def test_a_row_moved_to_a_partner_that_does_not_exist_is_refused_and_to_one_that_does_is_kept(db):
    metric = DailyMetricFactory(day=DAY, views=5)
    other = PartnerFactory()
    with pytest.raises(DatabaseError, match="which does not exist"):
        run("UPDATE partnerships_dailymetric SET partner_id = %(missing)s WHERE id = %(id)s",
            {"missing": MISSING, "id": metric.pk})
    run("UPDATE partnerships_dailymetric SET partner_id = %(other)s WHERE id = %(id)s",
        {"other": other.pk, "id": metric.pk})
    assert DailyMetric.objects.get(pk=metric.pk).partner_id == other.pk


def test_a_partner_with_daily_metrics_or_rollups_cannot_be_deleted_in_sql(db):
    metric = DailyMetricFactory(day=DAY, views=5)  # its rollup row is written with it
    with pytest.raises(DatabaseError, match="has daily metrics"):
        run("DELETE FROM partnerships_partner WHERE id = %(id)s", {"id": metric.partner_id})
    DailyMetric.objects.all()._raw_delete(DailyMetric.objects.db)  # the rollup stays: still refused
    with pytest.raises(DatabaseError, match="has daily metrics"):
        run("DELETE FROM partnerships_partner WHERE id = %(id)s", {"id": metric.partner_id})
    assert Partner.objects.filter(pk=metric.partner_id).exists()
    assert MonthlyMetricRollup.objects.filter(partner_id=metric.partner_id).exists()


def test_deleting_a_partner_in_the_orm_deletes_its_metrics_and_rollups_with_it(db):
    metric = DailyMetricFactory(day=DAY, views=5)
    kept = DailyMetricFactory(day=DAY, views=7)
    Partner.objects.get(pk=metric.partner_id).delete()
    assert not Partner.objects.filter(pk=metric.partner_id).exists()
    assert list(DailyMetric.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(MonthlyMetricRollup.objects.values_list("partner_id", flat=True)) == [kept.partner_id]
