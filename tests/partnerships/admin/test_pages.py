"""Every partnerships admin page renders, in a number of queries that does not grow with its rows."""

from __future__ import annotations

import pytest
from django.contrib import admin

from partnerships.models import Enrolment, Partner
from partnerships.services.enrolments import (
    enrolment_approve,
    enrolment_reinstate,
    enrolment_reject,
    enrolment_submit,
    enrolment_suspend,
)
from partnerships.services.partners import partner_reinstate, partner_suspend
from tests.partnerships.admin.helpers import (
    admin_url,
    build_rows,
    count_queries,
    decide_url,
    listed,
    standing_url,
    submitted,
)
from tests.partnerships.factories import EnrolmentFactory, ProgramFactory, UserFactory

S = Enrolment.Status
# The import job moved to the ingestion app; its pages keep the coverage they had here.
COVERED_APPS = {"partnerships", "ingestion"}
# Brand matching's admin pages are covered by tests/marketplace/test_admin.py.
BRAND_MODELS = {"brand", "campaign", "invitation", "apitoken"}
ADMIN_MODELS = {
    model._meta.model_name: model for model in admin.site._registry
    if model._meta.app_label in COVERED_APPS and model._meta.model_name not in BRAND_MODELS
}
PARTNERSHIPS_ADMIN_MODELS = sorted(ADMIN_MODELS)
OTHER_ADMIN_MODELS = sorted(
    model._meta.label for model in admin.site._registry if model._meta.app_label not in COVERED_APPS
)
# Queries a page may make: session, user, permissions, the page's own reads. A page whose count grows
# with its rows breaks these long before it reaches production's millions.
MAX_PAGE_QUERIES = 12
# The partner page leads with a summary: its payouts of the year and its screening flags are two aggregates,
# whatever the partner's history (tests/payouts/test_admin_formatting.py renders them over real runs); below the
# form, the past screening flags with their decisions and forfeitures are one more query (payouts' inline).
SUMMARY_QUERIES = {"partner": 3}


# --- 1. smoke: every page renders, in a bounded number of queries ---------------------------------

def test_every_partnerships_model_registered_in_the_admin_is_covered_here():
    assert PARTNERSHIPS_ADMIN_MODELS == ["category", "dailymetric", "enrolment", "importjob", "partner", "program"]


@pytest.mark.parametrize("model_name", PARTNERSHIPS_ADMIN_MODELS)
def test_changelist_renders_in_bounded_queries(client, staff_user, one_of_each, model_name,
                                               django_assert_max_num_queries):
    model = type(one_of_each[model_name])
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert listed(response) == [one_of_each[model_name]]


@pytest.mark.parametrize("model_name", PARTNERSHIPS_ADMIN_MODELS)
def test_change_page_renders_in_bounded_queries(client, staff_user, one_of_each, model_name,
                                                django_assert_max_num_queries):
    obj = one_of_each[model_name]
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES + SUMMARY_QUERIES.get(model_name, 0)):
        response = client.get(admin_url(type(obj), "change", obj.pk))

    assert response.status_code == 200
    assert response.context["original"] == obj


@pytest.mark.parametrize("label", OTHER_ADMIN_MODELS)
def test_changelists_of_other_apps_render_for_a_superuser(client, superuser, label):
    model = next(model for model in admin.site._registry if model._meta.label == label)
    client.force_login(superuser)

    response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model_name", PARTNERSHIPS_ADMIN_MODELS)
def test_changelist_queries_do_not_grow_with_the_number_of_rows(client, manager, model_name):
    model = ADMIN_MODELS[model_name]
    url = admin_url(model, "changelist")
    client.force_login(manager)
    build_rows(3, suffix="a")
    client.get(url)  # warm the per-process caches (content types, templates)
    few = count_queries(client, url)

    build_rows(27, suffix="b")
    many = count_queries(client, url)

    assert model.objects.count() == {"enrolment": 60, "program": 60}.get(model_name, 30)
    assert many == few


def test_enrolment_history_page_queries_do_not_grow_with_the_number_of_changes(client, manager, second_manager):
    enrolment = submitted(ProgramFactory(), followers=20_000, actor=manager)
    enrolment_approve(enrolment_id=enrolment.pk, actor=manager)
    url = admin_url(Enrolment, "history", enrolment.pk)
    client.force_login(manager)
    client.get(url)
    few = count_queries(client, url)

    for turn in range(10):
        actor = manager if turn % 2 else second_manager
        enrolment_suspend(enrolment_id=enrolment.pk, actor=actor, reason=f"Review {turn}")
        enrolment_reinstate(enrolment_id=enrolment.pk, actor=actor, reason=f"Cleared {turn}")
    many = count_queries(client, url)

    assert enrolment.history.count() == 22
    assert many == few


def test_partner_change_page_queries_do_not_grow_with_the_timeline(client, manager, second_manager):
    enrolment = submitted(ProgramFactory(), followers=20_000, actor=manager)
    partner = enrolment.partner
    partner_suspend(partner_id=partner.pk, actor=manager, reason="First review")
    partner_reinstate(partner_id=partner.pk, actor=manager, reason="First clearance")
    url = admin_url(Partner, "change", partner.pk)
    client.force_login(manager)
    client.get(url)
    few = count_queries(client, url)

    enrolment_approve(enrolment_id=enrolment.pk, actor=manager)
    for turn in range(5):
        actor = manager if turn % 2 else second_manager
        partner_suspend(partner_id=partner.pk, actor=actor, reason=f"Review {turn}")
        partner_reinstate(partner_id=partner.pk, actor=actor, reason=f"Cleared {turn}")
        enrolment_submit(partner_id=partner.pk, program_id=ProgramFactory().pk, actor=actor)
    many = count_queries(client, url)

    assert partner.history.count() == 13
    assert Enrolment.history.filter(partner_id=partner.pk).count() == 7
    assert many == few


def test_enrolment_add_page_renders(client, staff_user, django_assert_max_num_queries):
    ProgramFactory()
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(admin_url(Enrolment, "add"))

    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {"partner", "program"}


def test_enrolment_history_page_renders_in_bounded_queries(client, staff_user, one_of_each,
                                                           django_assert_max_num_queries):
    enrolment = one_of_each["enrolment"]
    enrolment_reject(enrolment_id=enrolment.pk, actor=UserFactory(groups=["Partnership managers"]),
                              reason="Too early")
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(admin_url(Enrolment, "history", enrolment.pk))

    assert response.status_code == 200


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_decide_page_renders_in_bounded_queries(client, staff_user, one_of_each, action,
                                                django_assert_max_num_queries):
    enrolment = one_of_each["enrolment"]
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(decide_url(enrolment, action))

    assert response.status_code == 200
    assert response.templates[0].name == "admin/partnerships/enrolment/decide.html"


def test_standing_page_renders_in_bounded_queries(client, staff_user, one_of_each,
                                                  django_assert_max_num_queries):
    client.force_login(staff_user)

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(standing_url(one_of_each["partner"], "suspend"))

    assert response.status_code == 200
    assert response.templates[0].name == "admin/partnerships/partner/standing.html"


def test_partner_changelist_shows_statistics_and_live_programs(client, manager, one_of_each):
    partner = one_of_each["partner"]
    EnrolmentFactory(partner=partner, program=ProgramFactory(name="Grant Round"), status=S.ENDED)
    client.force_login(manager)

    response = client.get(admin_url(Partner, "changelist"))

    html = response.content.decode()
    assert '<td class="field-followers"><span class="num">25K</span></td>' in html  # reach, compact
    assert '<td class="field-programs">Creator Fund (submitted)</td>' in html  # the ended one is not live
