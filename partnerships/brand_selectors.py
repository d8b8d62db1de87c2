"""Reads of the brand marketplace, shared by the REST API and the brand pages.

Only partners who opted into brand deals, are active and pass the marketplace rules are ever returned,
and only public fields leave this module's callers (the serializers and templates choose them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
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

from partnerships.models import Brand, Campaign, Category, Invitation, Partner, ShortlistEntry

ORDERINGS = {
    "followers": "statistics__followers",
    "avg_views": "statistics__avg_views_per_post",
    "engagement_rate": "statistics__engagement_rate",
}


def user_brands(user: AbstractBaseUser, token=None) -> QuerySet[Brand]:
    """The brands a request may act for: the token's brand, or every brand the user belongs to."""
    brands = Brand.objects.filter(is_active=True, memberships__user=user)
    if token is not None and getattr(token, "brand_id", None):
        brands = brands.filter(pk=token.brand_id)
    return brands


def marketplace_partners(today: dt.date | None = None) -> QuerySet[Partner]:
    """Partners brands may find: opted in, active, adult (or an organisation), and past the marketplace's
    follower, view and post thresholds (settings)."""
    today = today or timezone.localdate()
    try:
        adult_born_by = today.replace(year=today.year - settings.MARKETPLACE_MIN_AGE)
    except ValueError:  # 29 February
        adult_born_by = today.replace(year=today.year - settings.MARKETPLACE_MIN_AGE, day=28)
    adult = Q(kind__in=list(Partner.ORGANISATION_KINDS)) | Q(date_of_birth__lte=adult_born_by)
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


def creator_values(partners: QuerySet[Partner], *, categories_inline: bool = True) -> QuerySet:
    """A creator search as rows of exactly the public columns a result shows (dicts, no model instances), with
    the sort keys a cursor reads (pk and the annotations ``followers``, ``avg_views``, ``engagement`` that the
    search's ordering adds). On PostgreSQL each row carries its category slugs, from the same statement, unless
    ``categories_inline`` is false: when the database sorts every match before the page is cut (a text search),
    a subquery in the row would run for each match, not each row of the page; creator_rows reads them then."""
    columns = {"posts_30d": F("statistics__posts_30d")}
    if connection.vendor == "postgresql" and categories_inline:
        through = Partner.categories.through
        columns["category_slugs"] = ArraySubquery(through.objects.filter(partner_id=OuterRef("pk"))
                                              .order_by("category__slug").values("category__slug"))
    return partners.prefetch_related(None).values("pk", "handle", "display_name", "kind", "country", "followers",
                                                  "avg_views", "engagement", **columns)


def creator_rows(rows) -> list[dict]:
    """A page of creator_values rows as the API returns them; categories in one query where the rows lack them."""
    rows = list(rows)
    missing = [row["pk"] for row in rows if "category_slugs" not in row]
    if missing:
        slugs: dict[int, list[str]] = {pk: [] for pk in missing}
        through = Partner.categories.through
        for partner_id, slug in (through.objects.filter(partner_id__in=missing)
                                 .order_by("category__slug").values_list("partner_id", "category__slug")):
            slugs[partner_id].append(slug)
        for row in rows:
            row["category_slugs"] = slugs[row["pk"]]
    return [
        {"handle": row["handle"], "display_name": row["display_name"], "kind": row["kind"], "country": row["country"],
         "categories": list(row["category_slugs"] or []), "followers": row["followers"], "avg_views": row["avg_views"],
         "engagement_rate": float(row["engagement"]), "posts_30d": row["posts_30d"]}
        for row in rows
    ]


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
    engagement_rate_min: float | None = None


def creator_search(query: CreatorQuery) -> QuerySet[Partner]:
    """The creators a search finds, with their sort keys (with_sort_keys): the API and the brand page both read
    this."""
    partners = marketplace_partners()
    if query.q:
        partners = partners.filter(Q(handle__icontains=query.q) | Q(display_name__icontains=query.q))
    if query.countries:
        partners = partners.filter(country__in=query.countries)
    if query.categories:
        through = Partner.categories.through
        partners = partners.filter(
            Exists(through.objects.filter(partner_id=OuterRef("pk"), category_id__in=query.categories)))
    if query.kind:
        partners = partners.filter(kind=query.kind)
    if query.followers_min is not None:
        partners = partners.filter(statistics__followers__gte=query.followers_min)
    if query.followers_max is not None:
        partners = partners.filter(statistics__followers__lte=query.followers_max)
    if query.avg_views_min is not None:
        partners = partners.filter(statistics__avg_views_per_post__gte=query.avg_views_min)
    if query.engagement_rate_min is not None:
        partners = partners.filter(statistics__engagement_rate__gte=query.engagement_rate_min)
    return with_sort_keys(partners, query)


# A text search of at least this many characters is served by the trigram indexes (migration 0002).
TRIGRAM_MIN_LENGTH = 3


def sorts_all_matches(query: CreatorQuery) -> bool:
    """True when the search's sort keys are written so that no index provides the order (see with_sort_keys)."""
    return len(query.q) >= TRIGRAM_MIN_LENGTH


def with_sort_keys(queryset: QuerySet[Partner], query: CreatorQuery) -> QuerySet[Partner]:
    """Flat names for the ordering fields, so the cursor can read them off each row.

    With a text search the sort keys are written as ``key + 0``, which no index provides: PostgreSQL then finds
    the few matching creators through the trigram indexes and sorts them, instead of walking the whole follower
    index in order and testing each creator's name (at 1,000,000 partners, 50 ms instead of 370 ms)."""
    keys = {"followers": ("statistics__followers", IntegerField()),
            "avg_views": ("statistics__avg_views_per_post", IntegerField()),
            "engagement": ("statistics__engagement_rate", DecimalField(max_digits=7, decimal_places=2))}
    if sorts_all_matches(query):
        return queryset.annotate(**{name: ExpressionWrapper(F(path) + Value(0), output_field=field)
                                    for name, (path, field) in keys.items()})
    return queryset.annotate(**{name: F(path) for name, (path, _) in keys.items()})


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


def campaign_shortlist(campaign: Campaign) -> QuerySet[ShortlistEntry]:
    """A campaign's shortlist, oldest first, with each creator's public fields and who added them. A creator
    who has since left the marketplace (opted out, suspended, below its thresholds) is not shown."""
    return (
        ShortlistEntry.objects.filter(campaign=campaign,
                                      partner__in=marketplace_partners().prefetch_related(None).values("pk"))
        .select_related("partner__statistics", "added_by")
        .only("id", "campaign", "note", "added_at", "added_by__username", *SHORTLIST_PARTNER_FIELDS)
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
