"""Reads of the brand marketplace, shared by the REST API and the brand pages.

Only partners who opted into brand deals, are active and pass the marketplace rules are ever returned,
and only public fields leave this module's callers (the serializers and templates choose them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest, Least
from django.utils import timezone

from partnerships.models import Brand, Campaign, Category, Invitation, Partner, PartnerStatistics, ShortlistEntry


def user_brands(user: AbstractBaseUser, token=None) -> QuerySet[Brand]:
    """The brands a request may act for: the token's brand, or every brand the user belongs to."""
    brands = Brand.objects.filter(is_active=True, memberships__user=user)
    if token is not None and getattr(token, "brand_id", None):
        brands = brands.filter(pk=token.brand_id)
    return brands


def adult_born_by(today: dt.date) -> dt.date:
    """The latest birth date of someone of the marketplace's minimum age today."""
    try:
        return today.replace(year=today.year - settings.MARKETPLACE_MIN_AGE)
    except ValueError:  # 29 February
        return today.replace(year=today.year - settings.MARKETPLACE_MIN_AGE, day=28)


def marketplace_partners(today: dt.date | None = None) -> QuerySet[Partner]:
    """Partners brands may find: opted in, active, adult (or an organisation), and past the marketplace's
    follower, view and post thresholds (settings). The creator search writes the same rules in SQL
    (_marketplace_where)."""
    today = today or timezone.localdate()
    adult = Q(kind__in=list(Partner.ORGANISATION_KINDS)) | Q(date_of_birth__lte=adult_born_by(today))
    if settings.MARKETPLACE_MIN_AGE <= 18:
        adult |= Q(date_of_birth__isnull=True, age_verified=True)  # verified adult, birth date not on file
    return (
        Partner.objects.filter(
            adult,
            opted_into_brand_deals=True,
            status=Partner.Status.ACTIVE,
            statistics__followers__gte=settings.MARKETPLACE_MIN_FOLLOWERS,
            statistics__views_30d__gte=settings.MARKETPLACE_MIN_VIEWS_30D,
            statistics__posts_30d__gte=settings.MARKETPLACE_MIN_POSTS_30D,
        )
        .select_related("statistics")
        .prefetch_related(Prefetch("categories", queryset=Category.objects.only("slug", "name")))
    )


@dataclass(frozen=True)
class CreatorQuery:
    """A validated creator search (the API's FilterSet and the page's form both produce one)."""

    q: str = ""
    countries: tuple[str, ...] = ()
    categories: tuple[int, ...] = ()
    kind: str = ""
    followers_min: int | None = None
    followers_max: int | None = None
    avg_views_min: int | None = None
    engagement_rate_min: Decimal | None = None


# The orderings a search offers, by the statistics column each sorts on. Ties are broken by newest partner first.
SORT_COLUMNS = {"followers": "s.followers", "avg_views": "s.avg_views_per_post", "engagement_rate": "s.engagement_rate"}
DEFAULT_ORDERING = "-followers"

# A text search of at least this many characters is served by the trigram indexes (migration 0002).
TRIGRAM_MIN_LENGTH = 3


@dataclass(frozen=True)
class SearchPosition:
    """Where a page of a search starts: just after the row with this sort key and id, or (``before``) just before
    it, reading backwards. The API's cursor carries one."""

    key: int | Decimal
    pk: int
    before: bool = False


def _marketplace_where(today: dt.date) -> tuple[list[str], list]:
    """marketplace_partners() as SQL conditions on ``p`` (partner) and ``s`` (statistics), with their parameters.
    tests/brands/test_search_sql.py checks both find the same partners at every boundary."""
    organisations = sorted(Partner.ORGANISATION_KINDS)
    adult = [f"p.kind IN ({', '.join(['%s'] * len(organisations))})", "p.date_of_birth <= %s"]
    params: list = [*organisations, connection.ops.adapt_datefield_value(adult_born_by(today))]
    if settings.MARKETPLACE_MIN_AGE <= 18:
        adult.append("(p.date_of_birth IS NULL AND p.age_verified)")
    where = [f"({' OR '.join(adult)})", "p.opted_into_brand_deals", "p.status = %s", "s.followers >= %s",
             "s.views_30d >= %s", "s.posts_30d >= %s"]
    params += [Partner.Status.ACTIVE.value, settings.MARKETPLACE_MIN_FOLLOWERS, settings.MARKETPLACE_MIN_VIEWS_30D,
               settings.MARKETPLACE_MIN_POSTS_30D]
    return where, params


def _search_where(query: CreatorQuery) -> tuple[list[str], list]:
    where, params = _marketplace_where(timezone.localdate())
    if query.q:
        # Django's own icontains SQL for this database: on PostgreSQL the expression the trigram indexes are on.
        pattern = connection.operators["icontains"] % "%s"
        column = connection.ops.lookup_cast("icontains")
        where.append(f"({column % 'p.handle'} {pattern} OR {column % 'p.display_name'} {pattern})")
        like = f"%{connection.ops.prep_for_like_query(query.q)}%"
        params += [like, like]
    if query.countries:
        where.append(f"p.country IN ({', '.join(['%s'] * len(query.countries))})")
        params += query.countries
    if query.categories:
        where.append(f"EXISTS (SELECT 1 FROM {CATEGORY_LINKS} pc WHERE pc.partner_id = p.id "
                     f"AND pc.category_id IN ({', '.join(['%s'] * len(query.categories))}))")
        params += query.categories
    for value, condition in ((query.kind or None, "p.kind = %s"), (query.followers_min, "s.followers >= %s"),
                             (query.followers_max, "s.followers <= %s"),
                             (query.avg_views_min, "s.avg_views_per_post >= %s"),
                             (query.engagement_rate_min, "s.engagement_rate >= CAST(%s AS NUMERIC)")):
        if value is not None:
            where.append(condition)
            params.append(value)
    return where, params


CATEGORY_LINKS = Partner.categories.through._meta.db_table
PAGE_COLUMNS = ("pk", "handle", "display_name", "kind", "country", "followers", "avg_views", "engagement",
                "posts_30d")
# The row key holding each ordering's sort key, for a cursor.
SORT_KEYS = {"followers": "followers", "avg_views": "avg_views", "engagement_rate": "engagement"}


def creator_page(query: CreatorQuery, ordering: str = DEFAULT_ORDERING, *, position: SearchPosition | None = None,
                 size: int = 50) -> tuple[list[dict], bool]:
    """One page of a creator search in hand-written SQL, as rows (dicts of PAGE_COLUMNS and ``category_slugs``) in
    the page's order, and whether more rows lie beyond it in the direction read.

    It runs on every search of the API and the brand page, so it is one statement (categories included on
    PostgreSQL) with no ORM building or compiling. The order is ``ordering`` then newest partner first; a
    position reads the rows after it (or before it) in that order, by key, never by offset. With a text search
    the sort key is written as ``key + 0``, which no index provides: PostgreSQL then finds the few matches
    through the trigram indexes and sorts them, instead of walking a whole statistics index in order and testing
    every creator's name (at 1,000,000 partners, 50 ms instead of 370 ms)."""
    column = SORT_COLUMNS[ordering.lstrip("-")]
    key = f"({column} + 0)" if len(query.q) >= TRIGRAM_MIN_LENGTH else column
    descending = ordering.startswith("-")
    backwards = position is not None and position.before
    # Read in the page's order, or in the reverse order when reading backwards.
    key_desc, pk_desc = descending != backwards, not backwards
    where, params = _search_where(query)
    if position is not None:
        key_cmp, pk_cmp = ("<" if key_desc else ">"), ("<" if pk_desc else ">")
        # The first condition alone lets an index on the key start at the position.
        # A decimal key is cast: SQLite compares an expression (key + 0) with the text it binds a Decimal as.
        value = "CAST(%s AS NUMERIC)" if isinstance(position.key, Decimal) else "%s"
        where.append(f"{key} {key_cmp}= {value} AND ({key} {key_cmp} {value} OR p.id {pk_cmp} %s)")
        params += [position.key, position.key, position.pk]
    order = f"{'DESC' if key_desc else 'ASC'}, p.id {'DESC' if pk_desc else 'ASC'}"
    page = f"""SELECT p.id, p.handle, p.display_name, p.kind, p.country, s.followers, s.avg_views_per_post,
                      s.engagement_rate, s.posts_30d
               FROM {Partner._meta.db_table} p JOIN {PartnerStatistics._meta.db_table} s ON s.partner_id = p.id
               WHERE {' AND '.join(where)}
               ORDER BY {key} {order}
               LIMIT %s"""
    params.append(size + 1)
    inline = connection.vendor == "postgresql"
    if inline:
        # Categories are read for the page's rows only, after it is cut.
        page = f"""SELECT page.*, COALESCE(cats.slugs, '{{}}') FROM ({page}) AS page
                   LEFT JOIN LATERAL (
                       SELECT array_agg(c.slug ORDER BY c.slug) AS slugs
                       FROM {CATEGORY_LINKS} pc JOIN {Category._meta.db_table} c ON c.id = pc.category_id
                       WHERE pc.partner_id = page.id) AS cats ON true
                   ORDER BY page.{column.split('.')[1]} {order.replace('p.id', 'page.id')}"""
    with connection.cursor() as cursor:
        cursor.execute(page, params)
        fetched = cursor.fetchall()
    more = len(fetched) > size
    names = (*PAGE_COLUMNS, "category_slugs") if inline else PAGE_COLUMNS
    rows = [dict(zip(names, row, strict=True)) for row in fetched[:size]]
    if backwards:
        rows.reverse()
    if not inline:
        _add_category_slugs(rows)
    return rows, more


def _add_category_slugs(rows: list[dict]) -> None:
    slugs: dict[int, list[str]] = {row["pk"]: [] for row in rows}
    for partner_id, slug in (Partner.categories.through.objects.filter(partner_id__in=slugs)
                             .order_by("category__slug").values_list("partner_id", "category__slug")):
        slugs[partner_id].append(slug)
    for row in rows:
        row["category_slugs"] = slugs[row["pk"]]


def creator_rows(rows: list[dict]) -> list[dict]:
    """A creator_page's rows as the API returns them (CreatorSerializer documents the fields)."""
    return [
        {"handle": row["handle"], "display_name": row["display_name"], "kind": row["kind"], "country": row["country"],
         "categories": list(row["category_slugs"]), "followers": row["followers"], "avg_views": row["avg_views"],
         "engagement_rate": float(row["engagement"]), "posts_30d": row["posts_30d"]}
        for row in rows
    ]


# --- campaigns and invitations ------------------------------------------------------------------

def brand_campaigns(brands: QuerySet[Brand]) -> QuerySet[Campaign]:
    return (Campaign.objects.filter(brand__in=brands).select_related("brand")
            .prefetch_related(Prefetch("categories", queryset=Category.objects.only("slug", "name"))))


def brand_invitations(brands: QuerySet[Brand]) -> QuerySet[Invitation]:
    return Invitation.objects.filter(campaign__brand__in=brands).select_related("campaign", "partner")


# Only these columns of a shortlisted partner are read: a template or serializer cannot reach anything else
# without a visible extra query (never birth date, tax or identity status, payout data).
SHORTLIST_PARTNER_FIELDS = ("partner__handle", "partner__display_name", "partner__kind", "partner__country",
                            "partner__statistics__followers", "partner__statistics__avg_views_per_post",
                            "partner__statistics__engagement_rate", "partner__statistics__posts_30d")


PLATFORM_STAFF = "Platform staff"


def brand_facing_name(user_field: str):
    """Who did something, as a brand may see it: the brand member's username, or "Platform staff" for any staff
    member or superuser (their identities never reach brands)."""
    return Case(When(Q(**{f"{user_field}__is_staff": True}) | Q(**{f"{user_field}__is_superuser": True}),
                     then=Value(PLATFORM_STAFF)),
                default=F(f"{user_field}__username"), output_field=CharField())


def campaign_shortlist(campaign: Campaign) -> QuerySet[ShortlistEntry]:
    """A campaign's shortlist, oldest first, with each creator's public fields and who added them. A creator
    who has since left the marketplace (opted out, suspended, below its thresholds) is not shown."""
    return (
        ShortlistEntry.objects.filter(campaign=campaign,
                                      partner__in=marketplace_partners().prefetch_related(None).values("pk"))
        .select_related("partner__statistics")
        .only("id", "campaign", "note", "added_at", *SHORTLIST_PARTNER_FIELDS)
        .annotate(added_by_name=brand_facing_name("added_by"))
        .prefetch_related(Prefetch("partner__categories", queryset=Category.objects.only("slug", "name")))
        .order_by("added_at", "pk")
    )


# --- matching -------------------------------------------------------------------------------------

WEIGHTS = {"category_fit": 35, "country_fit": 15, "follower_fit": 15, "engagement": 15, "average_views": 10,
           "recent_activity": 10}


def _ratio(numerator, denominator):
    return Cast(numerator, FloatField()) / Cast(denominator, FloatField())


def campaign_matches(campaign: Campaign, *, limit: int = 50) -> QuerySet[Partner]:
    """Marketplace partners ranked by a match score (0-100) for the campaign, best first, excluding those
    already invited. The campaign's minimum engagement and average views are requirements; categories,
    countries and the follower range are preferences that score. Each component is annotated (0..1)."""
    category_ids = list(campaign.categories.values_list("pk", flat=True))
    through = Partner.categories.through
    matched = Coalesce(Subquery(
        through.objects.filter(partner_id=OuterRef("pk"), category_id__in=category_ids or [0])
        .values("partner_id").annotate(n=Count("id")).values("n")[:1], output_field=IntegerField()), 0)
    followers = F("statistics__followers")
    low, high = campaign.followers_min or 0, campaign.followers_max
    follower_fit = Case(
        When(**{"statistics__followers__lt": low}, then=_ratio(followers, Value(max(low, 1)))),
        *([When(**{"statistics__followers__gt": high}, then=_ratio(Value(high), followers))] if high else []),
        default=Value(1.0), output_field=FloatField())
    engagement_target = float(campaign.min_engagement_rate) * 2 or 10.0
    views_target = campaign.min_avg_views * 2 or 100_000
    candidates = (
        marketplace_partners()
        .exclude(invitations__campaign=campaign)
        .filter(statistics__engagement_rate__gte=campaign.min_engagement_rate,
                statistics__avg_views_per_post__gte=campaign.min_avg_views)
        .annotate(
            categories_matched=matched,
            category_fit=_ratio(F("categories_matched"), Value(len(category_ids))) if category_ids
            else Value(1.0, output_field=FloatField()),
            country_fit=Case(When(country__in=campaign.target_countries, then=Value(1.0)), default=Value(0.0),
                             output_field=FloatField()) if campaign.target_countries
            else Value(1.0, output_field=FloatField()),
            follower_fit=follower_fit,
            engagement=Least(_ratio(F("statistics__engagement_rate"), Value(engagement_target)), Value(1.0)),
            average_views=Least(_ratio(F("statistics__avg_views_per_post"), Value(views_target)), Value(1.0)),
            recent_activity=Least(_ratio(F("statistics__posts_30d"), Value(30)), Value(1.0)),
        )
        .annotate(score=Greatest(Value(0.0), sum(
            (F(name) * Value(float(weight)) for name, weight in WEIGHTS.items()), Value(0.0))))
        .order_by("-score", "pk")
    )
    return candidates[:limit]


def match_breakdown(partner: Partner, campaign: Campaign) -> dict:
    """The annotated components of one match, with the reason for each, for people and the API."""
    stats = partner.statistics
    parts = {}
    reasons = {
        "category_fit": (f"{partner.categories_matched} of {campaign.categories.count()} campaign categories"
                         if hasattr(partner, "categories_matched") else ""),
        "country_fit": ("in a target country" if partner.country_fit == 1 else f"{partner.country} is not targeted")
        if campaign.target_countries else "no country targeted",
        "follower_fit": f"{stats.followers:,} followers" + (
            " within the range" if partner.follower_fit == 1 else " outside the range"),
        "engagement": f"engagement rate {stats.engagement_rate}%",
        "average_views": f"{stats.avg_views_per_post:,} average views per post",
        "recent_activity": f"{stats.posts_30d} posts in the last 30 days",
    }
    for name, weight in WEIGHTS.items():
        value = float(getattr(partner, name))
        parts[name] = {"value": round(value, 4), "weight": weight, "points": round(value * weight, 2),
                       "reason": reasons[name]}
    return parts


def similar_creators(partner: Partner, *, limit: int = 20) -> QuerySet[Partner]:
    """Lookalikes: marketplace partners sharing the most categories, then the same country, then the
    closest follower count."""
    through = Partner.categories.through
    own = list(partner.categories.values_list("pk", flat=True))
    shared = Coalesce(Subquery(
        through.objects.filter(partner_id=OuterRef("pk"), category_id__in=own or [0])
        .values("partner_id").annotate(n=Count("id")).values("n")[:1], output_field=IntegerField()), 0)
    followers = max(getattr(getattr(partner, "statistics", None), "followers", 0), 1)
    return (
        marketplace_partners().exclude(pk=partner.pk)
        .annotate(shared_categories=shared,
                  same_country=Case(When(country=partner.country, then=Value(1)), default=Value(0),
                                    output_field=IntegerField()),
                  follower_closeness=Least(_ratio(F("statistics__followers"), Value(followers)),
                                           _ratio(Value(followers), Greatest(F("statistics__followers"), Value(1)))))
        .order_by("-shared_categories", "-same_country", "-follower_closeness", "pk")[:limit]
    )
