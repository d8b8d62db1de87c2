"""Reads of the brand marketplace, shared by the REST API, the brand pages and the admin: a brand's campaigns,
invitations and shortlists. Only public fields of a creator leave them (the serializers and templates choose)."""

from __future__ import annotations

from django.db.models import Case, CharField, F, Prefetch, Q, QuerySet, Value, When

from partnerships.marketplace.rules import marketplace_partners
from partnerships.models import Brand, Campaign, Category, Invitation, ShortlistEntry


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
