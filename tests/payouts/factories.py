import datetime as dt

import factory

from partnerships.models import Enrolment, Program
from payouts.models import AdRevenue, BudgetTranche, Fund, ProgramTerms, Video, VideoDailyViews
from tests.partnerships.factories import DailyMetricFactory, EnrolmentFactory, PartnerFactory, ProgramFactory

MONTH = dt.date(2026, 8, 1)  # long ended (the suite runs on the real clock), with ended months after it
BEFORE = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)  # approval date of members


class FundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fund

    program = factory.SubFactory(ProgramFactory)
    name = factory.LazyAttribute(lambda o: f"{o.program.name} fund")
    currency = factory.LazyAttribute(lambda o: o.program.currency)
    total_minor = 100_000_000_00


class TrancheFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BudgetTranche

    fund = factory.SubFactory(FundFactory)
    starts_on = MONTH
    ends_on = MONTH
    amount_minor = 10_000_00


class TermsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProgramTerms

    program = factory.SubFactory(ProgramFactory)


def paying_program(archetype=Program.Archetype.POOLED_FUND, *, month_budget=10_000_00, fund_total=100_000_000_00,
                   months=1, rollover=True, currency="USD", **terms) -> Program:
    program = ProgramFactory(archetype=archetype, currency=currency)
    fund = FundFactory(program=program, total_minor=fund_total, rollover_unspent=rollover, currency=currency)
    if month_budget is not None:
        TrancheFactory(fund=fund, starts_on=MONTH, ends_on=MONTH.replace(month=MONTH.month + months - 1),
                       amount_minor=month_budget * months)
    TermsFactory(program=program, **terms)
    return program


def member(program, *, handle=None, views=0, day=None, approved_at=BEFORE, **partner_fields):
    partner = PartnerFactory(**({"handle": handle} if handle else {}), **partner_fields)
    EnrolmentFactory(partner=partner, program=program, status=Enrolment.Status.APPROVED, approved_at=approved_at)
    if views:
        DailyMetricFactory(partner=partner, day=day or MONTH.replace(day=15), views=views, qualified_views=views)
    return partner


def revenue(partner, amount_minor, *, day=None, currency="USD"):
    return AdRevenue.objects.create(partner=partner, day=day or MONTH.replace(day=10), amount_minor=amount_minor,
                                    currency=currency)


def video(partner, *, views, duration=61, posted_at=None, day=None, external_id=None):
    v = Video.objects.create(partner=partner, external_id=external_id or f"v{Video.objects.count() + 1}",
                             posted_at=posted_at or dt.datetime(2026, 7, 15, tzinfo=dt.UTC),
                             duration_seconds=duration)
    if views:
        VideoDailyViews.objects.create(video=v, day=day or MONTH.replace(day=20), qualified_views=views)
    return v
