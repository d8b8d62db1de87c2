import datetime as dt

import factory
from django.utils import timezone

from partnerships.models import Brand, Campaign


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
