"""The creator search in hand-written SQL (search.creator_page) against the ORM: the same matches for random
searches, and keyset pages, read forwards and backwards, that walk every match once in the documented order.
Who the marketplace rule lets through is tests/marketplace/test_rules.py's."""

from decimal import Decimal

import pytest
from django.db.models import Exists, OuterRef, Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerships.marketplace.rules import marketplace_partners
from partnerships.marketplace.search import SORT_KEYS, CreatorQuery, SearchPosition, creator_page
from partnerships.models import Category, Partner, PartnerStatistics
from tests.marketplace.factories import ELIGIBLE, make_partners

pytestmark = pytest.mark.django_db
HYPOTHESIS = settings(max_examples=30, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ORDERINGS = ["-followers", "followers", "-avg_views", "avg_views", "-engagement_rate", "engagement_rate"]
ORM_KEYS = {"followers": "statistics__followers", "avg_views": "statistics__avg_views_per_post",
            "engagement_rate": "statistics__engagement_rate"}
TEXT = st.text(alphabet="ab%_\\.", min_size=0, max_size=4)

partner_specs = st.fixed_dictionaries({
    "kind": st.sampled_from(list(Partner.Kind)),
    # Days from the latest adult birth date: 0 is exactly of age today, 1 a day short of it; None: not on file.
    "born": st.one_of(st.none(), st.integers(-2, 2)),
    "age_verified": st.booleans(),
    "opted_in": st.booleans(),
    "status": st.sampled_from(list(Partner.Status)),
    "followers": st.integers(9_998, 10_002) | st.integers(0, 3_000_000),
    "views": st.integers(998, 1_002),
    "posts": st.integers(2, 4),
    "avg_views": st.integers(0, 100_000),
    "engagement": st.decimals(min_value=0, max_value=20, places=2),
    "country": st.sampled_from(["US", "GB", "FR"]),
    "categories": st.sets(st.sampled_from(["comedy", "gaming", "tech"]), max_size=2),
    "name": TEXT,
})


def orm_search(query: CreatorQuery, ordering: str) -> list[str]:
    """The reference: the ORM's marketplace_partners() and lookups, ordered by key then newest first."""
    partners = marketplace_partners()
    if query.q:
        partners = partners.filter(Q(handle__icontains=query.q) | Q(display_name__icontains=query.q))
    if query.countries:
        partners = partners.filter(country__in=query.countries)
    if query.categories:
        partners = partners.filter(Exists(Partner.categories.through.objects.filter(
            partner_id=OuterRef("pk"), category_id__in=query.categories)))
    for value, lookup in ((query.kind or None, "kind"), (query.followers_min, "statistics__followers__gte"),
                          (query.followers_max, "statistics__followers__lte"),
                          (query.avg_views_min, "statistics__avg_views_per_post__gte"),
                          (query.engagement_rate_min, "statistics__engagement_rate__gte")):
        if value is not None:
            partners = partners.filter(**{lookup: value})
    key = ORM_KEYS[ordering.lstrip("-")]
    return list(partners.order_by(f"-{key}" if ordering.startswith("-") else key, "-pk")
                .values_list("handle", flat=True))


def walk(query: CreatorQuery, ordering: str, size: int) -> list[str]:
    """Every page forwards from the first, then backwards from the last page's first row: the backward pages
    must give back the rows before the last page, in the same order."""
    key = SORT_KEYS[ordering.lstrip("-")]
    pages, position = [], None
    while True:
        rows, more = creator_page(query, ordering, position=position, size=size)
        assert len(rows) <= size
        pages.append(rows)
        if not more:
            break
        position = SearchPosition(rows[-1][key], rows[-1]["pk"])
    forwards = [row["handle"] for page in pages for row in page]
    if len(pages) > 1:
        backwards: list[str] = []
        position = SearchPosition(pages[-1][0][key], pages[-1][0]["pk"], before=True)
        while position is not None:
            rows, more = creator_page(query, ordering, position=position, size=size)
            assert 0 < len(rows) <= size
            backwards[:0] = [row["handle"] for row in rows]
            position = SearchPosition(rows[0][key], rows[0]["pk"], before=True) if more else None
        assert backwards == forwards[:len(forwards) - len(pages[-1])]
    return forwards


searches = st.fixed_dictionaries({
    "q": TEXT,
    "countries": st.lists(st.sampled_from(["US", "GB", "FR", "DE"]), max_size=2, unique=True).map(tuple),
    "categories": st.lists(st.sampled_from(["comedy", "gaming", "tech"]), max_size=2, unique=True),
    "kind": st.sampled_from(["", *Partner.Kind]),
    "followers_min": st.none() | st.integers(0, 2_000_000),
    "followers_max": st.none() | st.integers(0, 3_000_000),
    "avg_views_min": st.none() | st.integers(0, 100_000),
    "engagement_rate_min": st.none() | st.decimals(min_value=0, max_value=20, places=2),
})


@HYPOTHESIS
@given(specs=st.lists(partner_specs.map(lambda spec: {**spec, "opted_in": True, "status": Partner.Status.ACTIVE,
                                                      "posts": 4, "views": 1_002, "born": None,
                                                      "age_verified": True}), min_size=1, max_size=14),
       search=searches, ordering=st.sampled_from(ORDERINGS), size=st.integers(1, 4))
def test_random_searches_find_and_order_what_the_orm_finds_page_by_page(specs, search, ordering, size):
    make_partners(specs)
    ids = dict(Category.objects.values_list("slug", "pk"))
    query = CreatorQuery(**{**search, "categories": tuple(ids[slug] for slug in search["categories"])})
    assert walk(query, ordering, size) == orm_search(query, ordering)


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_ties_page_in_order_forwards_and_backwards(ordering):
    """Many equal keys: the id breaks ties (newest first) and no row is lost or repeated at a page's edge."""
    make_partners([{"kind": Partner.Kind.CREATOR, "born": None, "age_verified": True, "opted_in": True,
           "status": Partner.Status.ACTIVE, "followers": 20_000 + 1_000 * (index % 2), "views": 2_000, "posts": 5,
           "avg_views": 1_000 * (index % 3), "engagement": Decimal(f"{index % 2}.25"), "country": "US",
           "categories": set(), "name": "tie"} for index in range(11)])
    for q in ("", "tie"):  # with and without a text search (its key is written key + 0)
        query = CreatorQuery(q=q)
        assert walk(query, ordering, 3) == orm_search(query, ordering)
        assert len(orm_search(query, ordering)) == 11


def test_a_deleted_statistics_row_drops_the_partner_from_the_search():
    make_partners([{"kind": Partner.Kind.PUBLISHER, "born": None, "age_verified": False, "opted_in": True,
           "status": Partner.Status.ACTIVE, "followers": 50_000, "views": 5_000, "posts": 5, "avg_views": 10,
           "engagement": Decimal("1.00"), "country": "GB", "categories": {"tech"}, "name": "org"}])
    rows, _ = creator_page(CreatorQuery())
    assert [row["category_slugs"] for row in rows] == [["tech"]]
    PartnerStatistics.objects.all().delete()
    assert creator_page(CreatorQuery()) == ([], False)


@pytest.mark.parametrize(("q", "expected"), [
    ("_", {"a_b"}), ("%", {"a%b"}), ("\\", {"a\\b"}), ("a", {"a_b", "axb", "a%b", "a\\b"}), ("A_B", {"a_b"}),
])
def test_text_search_takes_wildcards_literally_and_ignores_case(q, expected):
    make_partners([{**ELIGIBLE, "name": name} for name in ("a_b", "axb", "a%b", "a\\b")])
    rows, _ = creator_page(CreatorQuery(q=q))
    assert {row["display_name"] for row in rows} == expected
