"""The search table (MarketplaceCreator, kept by migration 0022's triggers) against its definition, after random
changes to partners and statistics through every kind of write: saves, queryset updates and deletes, the set-based
statistics refresh, renames. The search reads the table; its pages must stay those of the marketplace rule over partners
and statistics (test_search.orm_search, the definition the search had before the table), text searches included,
whichever way a text search finds its page (search._text_page: walking a few creators in order, or through the
trigram indexes when they hold less than a page)."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.db.models import F
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from partnerships.marketplace import search as search_module
from partnerships.marketplace.search import CreatorQuery
from partnerships.models import Category, DailyMetric, MarketplaceCreator, Partner, PartnerStatistics
from partnerships.services.statistics import partner_statistics_refresh, partner_statistics_refresh_changed
from tests.marketplace.factories import ELIGIBLE, make_partners
from tests.marketplace.test_search import HYPOTHESIS, ORDERINGS, orm_search, partner_specs, searches, walk
from tests.partnerships.factories import PartnerFactory, PartnerStatisticsFactory

pytestmark = pytest.mark.django_db

ROW_COLUMNS = ("kind", "country", "date_of_birth", "age_verified", "opted_into_brand_deals", "status", "followers",
               "views_30d", "posts_30d", "avg_views_per_post", "engagement_rate", "handle", "display_name")


def expected_rows() -> dict[int, tuple]:
    """The table's definition: a row per opted-in, active partner with statistics, its columns copied."""
    partners = Partner.objects.filter(opted_into_brand_deals=True, status=Partner.Status.ACTIVE,
                                      statistics__isnull=False)
    return {row[0]: tuple(row[1:]) for row in partners.values_list(
        "pk", *(f"statistics__{c}" if c in ("followers", "views_30d", "posts_30d", "avg_views_per_post",
                                            "engagement_rate") else c for c in ROW_COLUMNS))}


def stored_rows() -> dict[int, tuple]:
    return {row[0]: tuple(row[1:]) for row in MarketplaceCreator.objects.values_list("partner_id", *ROW_COLUMNS)}


def apply(change: tuple, partner_ids: list[int]) -> None:
    """One write of the kinds the application makes, on the partner at position index (wrapping)."""
    kind, index, value = change
    partner_id = partner_ids[index % len(partner_ids)]
    partner = Partner.objects.filter(pk=partner_id).first()
    statistics = PartnerStatistics.objects.filter(partner_id=partner_id)
    if kind == "save_partner" and partner:
        partner.opted_into_brand_deals, partner.status = value % 2 == 0, list(Partner.Status)[value % 3]
        partner.save()
    elif kind == "update_partners":  # one statement over several rows
        Partner.objects.filter(pk__lte=partner_id).update(country=["US", "GB", "FR"][value % 3])
        # An organisation has no birth date (a constraint): only those without one may become one.
        Partner.objects.filter(pk__gte=partner_id, date_of_birth__isnull=True).update(
            kind=list(Partner.Kind)[value % 5])
    elif kind == "birth_date" and partner and partner.kind not in Partner.ORGANISATION_KINDS:
        partner.date_of_birth = None if value % 3 == 0 else timezone.localdate() - dt.timedelta(days=365 * value)
        partner.age_verified = value % 2 == 1
        partner.save(update_fields=["date_of_birth", "age_verified"])
    elif kind == "rename" and partner:  # a save, or one statement over several rows
        if value % 2:
            partner.handle, partner.display_name = f"r{partner_id}.{'ab' * (value % 3)}", "ab_" * (value % 4) or "x"
            partner.save()
        else:
            Partner.objects.filter(pk__gte=partner_id).update(display_name=["aba", "b%a", "x"][value % 3])
    elif kind == "update_statistics":
        PartnerStatistics.objects.filter(partner_id__gte=partner_id).update(
            followers=F("followers") + value * 1_000, engagement_rate=Decimal(value) / 4,
            avg_views_per_post=value * 100, posts_30d=value % 5)
    elif kind == "delete_statistics":
        statistics.delete()
    elif kind == "move_statistics":  # a row handed to another partner without one (migration 0024's row trigger)
        others = Partner.objects.filter(statistics__isnull=True).exclude(pk=partner_id).order_by("pk")
        other = others[value % others.count()] if others.exists() else None
        if other is not None:
            statistics.update(partner_id=other.pk)
    elif kind == "new_statistics" and partner and not statistics.exists():
        PartnerStatisticsFactory(partner=partner, followers=10_000 + value, views_30d=1_000 + value, posts_30d=3)
    elif kind == "delete_partner" and partner:
        partner.delete()
    elif kind == "new_partner":
        new = PartnerFactory(opted_into_brand_deals=True, date_of_birth=None, age_verified=True)
        PartnerStatisticsFactory(partner=new, followers=20_000 * value, views_30d=5_000, posts_30d=4)
        partner_ids.append(new.pk)
    elif kind == "refresh" and partner:  # the set-based refresh, from a day's metrics
        DailyMetric.objects.update_or_create(
            partner=partner, day=timezone.localdate() - dt.timedelta(days=1),
            defaults={"views": 1_000 * value, "likes": 10 * value, "posts": value, "followers": 10_000 * value})
        partner_statistics_refresh(partner_ids=[partner_id] if value % 2 else None)
    elif kind == "refresh_changed" and partner:  # the refresh after a load (the ORM's write stores the change)
        DailyMetric.objects.update_or_create(
            partner=partner, day=timezone.localdate() - dt.timedelta(days=2),
            defaults={"views": 2_000 * value, "likes": value, "posts": value % 4, "followers": 5_000 * value})
        partner_statistics_refresh_changed()


changes = st.lists(st.tuples(
    st.sampled_from(["save_partner", "update_partners", "birth_date", "update_statistics", "delete_statistics",
                     "move_statistics", "new_statistics", "delete_partner", "new_partner", "refresh",
                     "refresh_changed", "rename"]),
    st.integers(0, 20), st.integers(0, 12)), max_size=8)


@HYPOTHESIS
@given(specs=st.lists(partner_specs, min_size=1, max_size=10), changes=changes, search=searches,
       ordering=st.sampled_from(ORDERINGS), size=st.integers(1, 4), text_walk_limit=st.integers(1, 12))
def test_the_table_and_the_search_follow_random_changes(specs, changes, search, ordering, size, text_walk_limit):
    make_partners(specs)
    partner_ids = list(Partner.objects.order_by("pk").values_list("pk", flat=True))
    for change in changes:
        apply(change, partner_ids)
    assert stored_rows() == expected_rows()
    ids = dict(Category.objects.values_list("slug", "pk"))
    query = CreatorQuery(**{**search, "categories": tuple(ids[slug] for slug in search["categories"])})
    # A text search walks at most text_walk_limit creators before it searches them all (PostgreSQL): small limits
    # take both ways, and the pages must not tell which.
    with mock.patch.object(search_module, "TEXT_WALK_LIMIT", text_walk_limit):
        assert walk(query, ordering, size) == orm_search(query, ordering)


@pytest.mark.parametrize("text_walk_limit", [1, 3, 4, 10_000])
@pytest.mark.parametrize("ordering", ["-followers", "engagement_rate"])
def test_a_text_search_pages_alike_whether_it_walks_or_searches(text_walk_limit, ordering):
    """Matches spread among creators who do not match: a small walk finds a page, or too few and searches all."""
    make_partners([{**ELIGIBLE, "followers": 10_000 + index, "engagement": Decimal(index % 3),
                    "name": "abab" if index % 3 == 0 else "bbbb"} for index in range(12)])
    with mock.patch.object(search_module, "TEXT_WALK_LIMIT", text_walk_limit):
        for q in ("aba", "bbb", "ab_", "b"):
            query = CreatorQuery(q=q)
            assert walk(query, ordering, 2) == orm_search(query, ordering)
    assert len(orm_search(CreatorQuery(q="aba"), ordering)) == 4


def test_a_partner_leaves_and_rejoins_the_table_with_its_current_figures():
    make_partners([{"kind": Partner.Kind.PUBLISHER, "born": None, "age_verified": False, "opted_in": True,
                    "status": Partner.Status.ACTIVE, "followers": 50_000, "views": 5_000, "posts": 5,
                    "avg_views": 10, "engagement": Decimal("1.00"), "country": "GB", "categories": set(),
                    "name": "org"}])
    partner = Partner.objects.get()
    assert list(MarketplaceCreator.objects.values_list("partner_id", "followers")) == [(partner.pk, 50_000)]
    Partner.objects.filter(pk=partner.pk).update(opted_into_brand_deals=False)
    PartnerStatistics.objects.filter(partner=partner).update(followers=70_000)
    assert not MarketplaceCreator.objects.exists()
    Partner.objects.filter(pk=partner.pk).update(opted_into_brand_deals=True)
    assert list(MarketplaceCreator.objects.values_list("partner_id", "followers")) == [(partner.pk, 70_000)]
    partner.delete()
    assert not MarketplaceCreator.objects.exists()


def test_statistics_moved_to_another_partner_move_its_row():
    make_partners([{"kind": Partner.Kind.PUBLISHER, "born": None, "age_verified": False, "opted_in": True,
                    "status": Partner.Status.ACTIVE, "followers": 50_000, "views": 5_000, "posts": 5,
                    "avg_views": 10, "engagement": Decimal("1.00"), "country": "GB", "categories": set(),
                    "name": "org"}])
    partner = Partner.objects.get()
    other = PartnerFactory(opted_into_brand_deals=True, date_of_birth=None, age_verified=True)
    PartnerStatistics.objects.filter(partner=partner).update(partner_id=other.pk, followers=60_000)
    assert list(MarketplaceCreator.objects.values_list("partner_id", "followers")) == [(other.pk, 60_000)]
    assert stored_rows() == expected_rows()

