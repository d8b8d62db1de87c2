"""Matching creators to a campaign (a score with the reason for each part) and lookalikes of a creator, among the
partners brands may find."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.db.models import Case, Count, F, FloatField, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Greatest, Least

from partnerships.marketplace.rules import marketplace_partners
from partnerships.models import Campaign, Partner

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

WEIGHTS = {"category_fit": 35, "country_fit": 15, "follower_fit": 15, "engagement": 15, "average_views": 10,
           "recent_activity": 10}


class MatchScores(TypedDict):
    """What campaign_matches annotates on each partner: the score (0-100) and its components (0..1)."""

    categories_matched: int
    category_fit: float
    country_fit: float
    follower_fit: float
    engagement: float
    average_views: float
    recent_activity: float
    score: float


def _ratio(numerator, denominator):
    return Cast(numerator, FloatField()) / Cast(denominator, FloatField())


def _categories_in_common(category_ids: list[int]) -> Coalesce:
    """How many of these categories the outer query's partner has (0 when none), as a correlated subquery."""
    counted = (Partner.categories.through.objects
               .filter(partner_id=OuterRef("pk"), category_id__in=category_ids or [0])
               .values("partner_id").annotate(n=Count("id")))
    # django-stubs cannot see an annotation made after values() (it resolves "n" as a field of the through model).
    return Coalesce(Subquery(counted.values("n")[:1], output_field=IntegerField()), 0)  # type: ignore[misc]


def campaign_matches(campaign: Campaign, *, limit: int = 50) -> QuerySet[WithAnnotations[Partner, MatchScores]]:
    """Marketplace partners ranked by a match score (0-100) for the campaign, best first, excluding those
    already invited. The campaign's minimum engagement and average views are requirements; categories,
    countries and the follower range are preferences that score. Each component is annotated (0..1)."""
    category_ids = list(campaign.categories.values_list("pk", flat=True))
    matched = _categories_in_common(category_ids)
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


def match_breakdown(partner: WithAnnotations[Partner, MatchScores], campaign: Campaign) -> dict:
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
    shared = _categories_in_common(list(partner.categories.values_list("pk", flat=True)))
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
