import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from partnerships.marketplace.rules import adult_born_by
from partnerships.models import Brand, Campaign, Category, Partner
from tests.partnerships.factories import PartnerFactory, PartnerStatisticsFactory


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"brand{n}")
    name = factory.LazyAttribute(lambda o: o.slug.capitalize())


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    brand = factory.SubFactory(BrandFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    budget_minor = 1_000_000
    currency = "USD"
    starts_on = factory.LazyFunction(timezone.localdate)
    ends_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=30))


def make_partners(specs: list[dict]) -> None:
    """Partners (and nobody else) from specs: a partner's fields and statistics, its birth date given as days after
    the latest adult birth date (None: not on file), its categories by slug (comedy, gaming, tech)."""
    Partner.objects.all().delete()
    categories = {slug: Category.objects.get_or_create(slug=slug, defaults={"name": slug.title()})[0]
                  for slug in ("comedy", "gaming", "tech")}
    latest = adult_born_by(timezone.localdate())
    for index, spec in enumerate(specs):
        partner = PartnerFactory(
            handle=f"p{index}.{''.join(c for c in spec['name'] if c in 'ab._')}", display_name=spec["name"] or "x",
            kind=spec["kind"], age_verified=spec["age_verified"], opted_into_brand_deals=spec["opted_in"],
            status=spec["status"], country=spec["country"],
            date_of_birth=(None if spec["born"] is None or spec["kind"] in Partner.ORGANISATION_KINDS
                           else latest + dt.timedelta(days=spec["born"])))
        PartnerStatisticsFactory(partner=partner, followers=spec["followers"], views_30d=spec["views"],
                                 posts_30d=spec["posts"], avg_views_per_post=spec["avg_views"],
                                 engagement_rate=spec["engagement"])
        partner.categories.set([categories[slug] for slug in spec["categories"]])


# A partner just inside every marketplace threshold (a spec for make_partners).
ELIGIBLE = {"kind": Partner.Kind.CREATOR, "born": -400, "age_verified": False, "opted_in": True,
            "status": Partner.Status.ACTIVE, "followers": 10_000, "views": 1_000, "posts": 3, "avg_views": 10,
            "engagement": Decimal("1.00"), "country": "US", "categories": set(), "name": "x"}
