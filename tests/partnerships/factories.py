import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from partnerships.models import Category, DailyMetric, Enrolment, Partner, PartnerStatistics, Program
from partnerships.roles import ensure_groups


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if extracted:
            ensure_groups()  # a transactional test may have flushed the groups the migration made
        for name in extracted or []:
            self.groups.add(Group.objects.get(name=name))
        if create:
            self.save()


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"category{n}")
    name = factory.LazyAttribute(lambda o: o.slug.capitalize())


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    kind = Partner.Kind.CREATOR
    handle = factory.Sequence(lambda n: f"partner{n}")
    display_name = factory.LazyAttribute(lambda o: o.handle.capitalize())
    country = "US"
    date_of_birth = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30 * 365))
    tax_form_on_file = True
    identity_verified = True


class PartnerStatisticsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerStatistics

    partner = factory.SubFactory(PartnerFactory)
    as_of = factory.LazyFunction(timezone.localdate)
    refreshed_at = factory.LazyFunction(timezone.now)


class DailyMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DailyMetric

    partner = factory.SubFactory(PartnerFactory)
    day = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=1))


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    slug = factory.Sequence(lambda n: f"program-{n}")
    name = factory.Sequence(lambda n: f"Program {n}")
    archetype = Program.Archetype.POOLED_FUND
    currency = "USD"
    time_zone = "UTC"
    min_age = 18


class EnrolmentFactory(factory.django.DjangoModelFactory):
    """An enrolment written directly, for tests that need a given state; services write real ones."""

    class Meta:
        model = Enrolment

    partner = factory.SubFactory(PartnerFactory)
    program = factory.SubFactory(ProgramFactory)
    status = Enrolment.Status.SUBMITTED
    submitted_at = factory.LazyFunction(timezone.now)
    eligibility = factory.LazyFunction(list)
    eligibility_passed = True
