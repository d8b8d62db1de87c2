"""The 30-day roll-up computed in SQL, and the Celery task that refreshes it."""

import datetime as dt
from decimal import Decimal

import pytest

from partnerships.models import PartnerStatistics
from partnerships.services.statistics import partner_statistics_refresh
from partnerships.tasks import refresh_partner_statistics_task
from tests.partnerships.factories import DailyMetricFactory, PartnerFactory

AS_OF = dt.date(2026, 10, 31)


def day(n_before: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n_before)


@pytest.fixture
def busy_partner(db):
    partner = PartnerFactory()
    DailyMetricFactory(partner=partner, day=day(30), views=999_999, followers=1, posts=9)  # outside the window
    DailyMetricFactory(partner=partner, day=day(29), views=1_000, qualified_views=800, likes=40, comments=5,
                       shares=5, followers=1_000, posts=2)
    DailyMetricFactory(partner=partner, day=day(0), views=2_001, qualified_views=1_500, likes=60, comments=10,
                       shares=30, followers=1_200, posts=1)
    DailyMetricFactory(partner=partner, day=day(-1), views=7, followers=5_000, posts=1)  # after as_of
    return partner


def test_sums_the_window_and_takes_the_latest_follower_count(busy_partner):
    assert partner_statistics_refresh(as_of=AS_OF) == 1
    stats = PartnerStatistics.objects.get(partner=busy_partner)
    assert stats.as_of == AS_OF
    assert stats.followers == 1_200
    assert (stats.views_30d, stats.qualified_views_30d, stats.posts_30d) == (3_001, 2_300, 3)
    assert (stats.likes_30d, stats.comments_30d, stats.shares_30d) == (100, 15, 35)
    assert stats.avg_views_per_post == 1_000  # 3,001 // 3
    assert stats.engagement_rate == Decimal("5.00")  # 150 / 3,001 = 4.998%


def test_refresh_twice_gives_the_same_rows(busy_partner):
    partner_statistics_refresh(as_of=AS_OF)
    first = PartnerStatistics.objects.values().get(partner=busy_partner)
    partner_statistics_refresh(as_of=AS_OF)
    second = PartnerStatistics.objects.values().get(partner=busy_partner)
    first.pop("refreshed_at"), second.pop("refreshed_at")
    assert first == second
    assert PartnerStatistics.objects.count() == 1


def test_a_partner_gone_quiet_keeps_followers_and_loses_activity(busy_partner):
    partner_statistics_refresh(as_of=AS_OF)
    later = AS_OF + dt.timedelta(days=60)
    partner_statistics_refresh(as_of=later)
    stats = PartnerStatistics.objects.get(partner=busy_partner)
    assert (stats.as_of, stats.followers, stats.views_30d, stats.posts_30d, stats.engagement_rate) == (
        later, 5_000, 0, 0, Decimal("0"))


def test_scoped_refresh_touches_only_the_named_partners(busy_partner):
    other = PartnerFactory()
    DailyMetricFactory(partner=other, day=day(1), views=10, followers=3)
    partner_statistics_refresh(as_of=AS_OF, partner_ids=[other.pk])
    assert list(PartnerStatistics.objects.values_list("partner_id", flat=True)) == [other.pk]


def test_zero_posts_and_zero_views_do_not_divide_by_zero(db):
    partner = PartnerFactory()
    DailyMetricFactory(partner=partner, day=AS_OF, views=0, posts=0, followers=10)
    partner_statistics_refresh(as_of=AS_OF)
    stats = PartnerStatistics.objects.get(partner=partner)
    assert (stats.avg_views_per_post, stats.engagement_rate) == (0, Decimal("0"))


def test_task_has_a_stable_name_and_refreshes(busy_partner):
    assert refresh_partner_statistics_task.name == "partnerships.refresh_partner_statistics"
    # apply() runs the task body in this process whatever the broker; a real worker is tested in payouts.
    result = refresh_partner_statistics_task.apply(kwargs={"as_of": AS_OF.isoformat()})
    assert result.get() == 1
    assert PartnerStatistics.objects.get(partner=busy_partner).views_30d == 3_001


def test_the_daily_schedule_exists_and_points_at_the_task(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Refresh partner statistics (daily)")
    assert task.task == refresh_partner_statistics_task.name
    assert task.enabled
