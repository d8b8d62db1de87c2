"""What the admin tests of partnerships share: URLs, what a page lists and says, the state a refusal must leave
unchanged, and realistic rows built through the services."""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ingestion.models import ImportJob
from partnerships.models import Enrolment, Partner, Program
from partnerships.services.enrolments import enrolment_submit
from tests.partnerships.factories import (
    CategoryFactory,
    DailyMetricFactory,
    EnrolmentFactory,
    PartnerFactory,
    PartnerStatisticsFactory,
    ProgramFactory,
    UserFactory,
)

S = Enrolment.Status


def admin_url(model: type, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def decide_url(enrolment: Enrolment, action: str) -> str:
    return reverse("admin:partnerships_enrolment_decide", args=[enrolment.pk, action])


def standing_url(partner: Partner, action: str) -> str:
    return reverse("admin:partnerships_partner_standing", args=[partner.pk, action])


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def listed_handles(response) -> set[str]:
    return {partner.handle for partner in listed(response)}


def enrolment_state(enrolment: Enrolment) -> tuple:
    enrolment.refresh_from_db()
    return (enrolment.status, enrolment.decided_by_id, enrolment.decided_at, enrolment.decision_reason,
            enrolment.eligibility_override_reason, enrolment.eligibility, enrolment.updated_at,
            enrolment.history.count())


def partner_state(partner: Partner) -> tuple:
    partner.refresh_from_db()
    return (partner.status, partner.status_reason, partner.status_changed_by_id, partner.status_changed_at,
            partner.updated_at, partner.history.count())


def submitted(program: Program, *, followers: int, handle: str | None = None, actor=None) -> Enrolment:
    """A real application: yesterday's metrics give the partner ``followers``, then the service submits it
    (which refreshes the statistics and stores the eligibility snapshot)."""
    partner = PartnerFactory(**({"handle": handle} if handle else {}))
    DailyMetricFactory(partner=partner, followers=followers, views=1_000, qualified_views=800, posts=3)
    return enrolment_submit(partner_id=partner.pk, program_id=program.pk, actor=actor)


def build_rows(count: int, *, suffix: str) -> None:
    """``count`` rows of every partnerships model, with everything the changelists display or prefetch:
    statistics, categories, daily metrics, live enrolments (so the "programs" column has content) and
    deciders (so a missing select_related on decided_by would show)."""
    for index in range(count):
        category = CategoryFactory(slug=f"cat-{suffix}-{index}")
        program = ProgramFactory(slug=f"prog-{suffix}-{index}", name=f"Program {suffix} {index}")
        partner = PartnerFactory(handle=f"p.{suffix}.{index}", country=("US", "DE", "FR")[index % 3])
        partner.categories.add(category)
        PartnerStatisticsFactory(partner=partner, followers=1_000 * (index + 1), views_30d=10 * index)
        DailyMetricFactory(partner=partner, followers=1_000 * (index + 1))
        status = (S.SUBMITTED, S.APPROVED, S.SUSPENDED)[index % 3]
        if status == S.SUBMITTED:
            EnrolmentFactory(partner=partner, program=program, status=status)
        else:
            EnrolmentFactory(partner=partner, program=program, status=status, decided_at=timezone.now(),
                             decided_by=UserFactory(username=f"decider.{suffix}.{index}"))
        EnrolmentFactory(partner=partner, program=ProgramFactory(), status=S.APPROVED)
        ImportJob.objects.create(kind=ImportJob.Kind.METRICS, source_name=f"metrics-{suffix}-{index}.csv",
                                 created_by=UserFactory(username=f"uploader.{suffix}.{index}"))


def count_queries(client, url: str) -> int:
    cache.clear()  # the cached country list would otherwise make the second request cheaper
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def bulk(client, action: str, enrolments, **extra):
    data = {"action": f"{action}_selected", ACTION_CHECKBOX_NAME: [e.pk for e in enrolments], **extra}
    return client.post(admin_url(Enrolment, "changelist"), data)
