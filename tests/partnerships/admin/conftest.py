"""Fixtures of the partnerships admin tests: an empty cache, one object of every model, the partner directory of
the list tests and the application queue of the decision tests."""

from __future__ import annotations

import pytest

from ingestion.models import ImportJob
from partnerships.models import DailyMetric, Partner
from partnerships.services.enrolments import enrolment_reject
from tests.partnerships.admin.helpers import submitted
from tests.partnerships.factories import CategoryFactory, PartnerFactory, PartnerStatisticsFactory, ProgramFactory


@pytest.fixture(autouse=True)
def _empty_cache(empty_cache):
    """Every admin test starts and ends with an empty cache (tests/conftest.py)."""


@pytest.fixture
def one_of_each(manager):
    """One realistic object of every partnerships model: an application submitted through the service
    (so it has statistics, a snapshot and history) by a partner with a category."""
    program = ProgramFactory(name="Creator Fund", min_followers=10_000)
    enrolment = submitted(program, followers=25_000, handle="dancing.dani", actor=manager)
    category = CategoryFactory(slug="comedy", name="Comedy")
    enrolment.partner.categories.add(category)
    return {
        "partner": enrolment.partner,
        "category": category,
        "program": program,
        "enrolment": enrolment,
        "dailymetric": DailyMetric.objects.get(partner=enrolment.partner),
        "importjob": ImportJob.objects.create(kind=ImportJob.Kind.METRICS, source_name="metrics.csv",
                                              created_by=manager),
    }


@pytest.fixture(params=["superuser", "manager"])
def staff_user(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def partner_directory():
    comedy, education = CategoryFactory(slug="comedy", name="Comedy"), CategoryFactory(slug="education")
    dani = PartnerFactory(handle="dancing.dani", display_name="Dani Dances", country="US")
    dani.categories.add(comedy)
    PartnerStatisticsFactory(partner=dani, followers=100_000)
    carl = PartnerFactory(handle="cooking.carl", display_name="Carl Cooks", country="DE")
    carl.categories.add(education)
    PartnerStatisticsFactory(partner=carl, followers=999_999)
    PartnerStatisticsFactory(partner=PartnerFactory(handle="big.news", kind=Partner.Kind.PUBLISHER,
                                                    date_of_birth=None, country="GB"), followers=1_000_000)
    PartnerStatisticsFactory(partner=PartnerFactory(handle="prof.pat", kind=Partner.Kind.EDUCATOR,
                                                    status=Partner.Status.SUSPENDED, country="DE"),
                             followers=99_999)
    PartnerFactory(handle="new.nina", country="FR")  # no statistics yet
    return {"comedy": comedy, "education": education}


@pytest.fixture
def queue(manager):
    """Two programs; in the strict one an eligible and a failing application, in the open one an
    application that a manager rejected."""
    strict = ProgramFactory(name="Creator Fund", min_followers=100_000)
    relaxed = ProgramFactory(name="Rising Stars")
    eligible = submitted(strict, followers=200_000, handle="dancing.dani")
    failing = submitted(strict, followers=50_000, handle="cooking.carl")
    rejected = submitted(relaxed, followers=5_000, handle="prof.pat")
    enrolment_reject(enrolment_id=rejected.pk, actor=manager, reason="Off-topic content")
    return {"strict": strict, "relaxed": relaxed, "eligible": eligible, "failing": failing, "rejected": rejected}
