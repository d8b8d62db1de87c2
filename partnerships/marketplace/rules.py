"""The marketplace's two rules, each written once.

Who brands may find (``marketplace_rule``): partners who opted into brand deals, are active, adult (or an
organisation) and past the follower, view and post thresholds (``MARKETPLACE_*`` settings). The ORM reads it as a Q;
the hand-written search statements take its SQL, which the ORM's own compiler derives from that Q (``marketplace_sql``,
cached per day and settings), so the two cannot drift apart.

Who acts for a brand (``membership``): a member of an active brand, and with an API token, of the token's brand only.
Everything a brand reads or writes is looked up through it, so other brands' objects are "not found"."""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from partnerships.models import Brand, BrandMembership, Category, Partner, PartnerStatistics

if TYPE_CHECKING:  # the project's user model (AUTH_USER_MODEL is auth.User): brand members and staff
    from django.contrib.auth.models import User


def adult_born_by(today: dt.date) -> dt.date:
    """The latest birth date of someone of the marketplace's minimum age today."""
    try:
        return today.replace(year=today.year - settings.MARKETPLACE_MIN_AGE)
    except ValueError:  # 29 February
        return today.replace(year=today.year - settings.MARKETPLACE_MIN_AGE, day=28)


def marketplace_rule(today: dt.date | None = None) -> Q:
    """The marketplace rule on Partner: opted in, active, adult (or an organisation), past the thresholds."""
    today = today or timezone.localdate()
    adult = Q(kind__in=list(Partner.ORGANISATION_KINDS)) | Q(date_of_birth__lte=adult_born_by(today))
    if settings.MARKETPLACE_MIN_AGE <= 18:
        adult |= Q(date_of_birth__isnull=True, age_verified=True)  # verified adult, birth date not on file
    return adult & Q(
        opted_into_brand_deals=True,
        status=Partner.Status.ACTIVE,
        statistics__followers__gte=settings.MARKETPLACE_MIN_FOLLOWERS,
        statistics__views_30d__gte=settings.MARKETPLACE_MIN_VIEWS_30D,
        statistics__posts_30d__gte=settings.MARKETPLACE_MIN_POSTS_30D,
    )


def marketplace_partners(today: dt.date | None = None) -> QuerySet[Partner]:
    """Partners brands may find (marketplace_rule), with their statistics and categories."""
    return (
        Partner.objects.filter(marketplace_rule(today))
        .select_related("statistics")
        .prefetch_related(Prefetch("categories", queryset=Category.objects.only("slug", "name")))
    )


def marketplace_sql(today: dt.date | None = None, *, partner: str = "p", statistics: str = "s",
                    using: str = DEFAULT_DB_ALIAS) -> tuple[str, tuple]:
    """marketplace_rule as one SQL condition on the partner table aliased ``partner`` joined to its statistics
    aliased ``statistics``, with its parameters (``%s`` placeholders, values adapted for the database).

    The ORM's compiler writes it from marketplace_rule, once per day, settings and database: the search statements
    run on every request and build no query."""
    thresholds = (settings.MARKETPLACE_MIN_AGE, settings.MARKETPLACE_MIN_FOLLOWERS,
                  settings.MARKETPLACE_MIN_VIEWS_30D, settings.MARKETPLACE_MIN_POSTS_30D)
    return _compiled_rule(today or timezone.localdate(), thresholds, partner, statistics, using)


@functools.lru_cache(maxsize=32)
def _compiled_rule(today: dt.date, thresholds: tuple, partner: str, statistics: str,
                   using: str) -> tuple[str, tuple]:
    # thresholds only key the cache: marketplace_rule reads the settings it was called under.
    query = Partner.objects.filter(marketplace_rule(today)).query
    query.change_aliases({Partner._meta.db_table: partner, PartnerStatistics._meta.db_table: statistics})
    sql, params = query.get_compiler(using=using).compile(query.where)
    return f"({sql})", tuple(params)


def membership(user: User, token=None, *, via: str = "") -> Q:
    """The rows (brands, or what ``via`` leads from to a brand, e.g. ``campaign__brand``) a user acts for: brands that
    are active and count the user among their members; with an API token, its own brand only."""
    prefix = f"{via}__" if via else ""
    rule = Q(**{f"{prefix}is_active": True, f"{prefix}memberships__user": user})
    brand_id = getattr(token, "brand_id", None) if token is not None else None
    if brand_id:
        rule &= Q(**{f"{prefix}pk": brand_id})
    return rule


def user_brands(user: User, token=None) -> QuerySet[Brand]:
    """The brands a request may act for: the token's brand, or every brand the user belongs to."""
    return Brand.objects.filter(membership(user, token))


def is_brand_admin(user: User, brand: Brand) -> bool:
    """Whether the user is one of the brand's admins (who alone manage its API tokens)."""
    return BrandMembership.objects.filter(brand=brand, user=user, role=BrandMembership.Role.ADMIN).exists()
