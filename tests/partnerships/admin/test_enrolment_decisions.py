"""One decision at a time from the application's page, the add page, and the permissions that guard them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from partnerships.exceptions import OVERRIDE_REQUIRED
from partnerships.models import Category, DailyMetric, Enrolment, Partner, Program
from partnerships.transitions import BULK_ACTIONS, ENROLMENT_TRANSITIONS
from tests.partnerships.admin.helpers import admin_url, bulk, decide_url, enrolment_state, messages_of
from tests.partnerships.factories import DailyMetricFactory, EnrolmentFactory, PartnerFactory, ProgramFactory

S = Enrolment.Status


# --- 5. one decision at a time --------------------------------------------------------------------

def test_decide_page_get_shows_a_form_and_changes_nothing(client, manager, queue):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = client.get(decide_url(enrolment, "reject"))

    assert response.status_code == 200
    assert list(response.context["form"].fields) == ["reason"]
    assert response.context["form"].is_bound is False
    assert enrolment_state(enrolment) == before


def test_decide_page_post_with_a_reason_decides(client, manager, queue):
    enrolment = queue["eligible"]
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "reject"), {"reason": "Audience outside our markets"})

    assert response.status_code == 302
    assert response["Location"] == admin_url(Enrolment, "change", enrolment.pk)
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.decided_by, enrolment.decision_reason) == (
        S.REJECTED, manager, "Audience outside our markets")
    assert messages_of(response) == [("success", f"Application #{enrolment.pk} of @dancing.dani: reject done.")]


def test_decide_page_reject_without_a_reason_is_refused_and_changes_nothing(client, manager, queue):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "reject"), {"reason": ""})

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert enrolment_state(enrolment) == before


def test_decide_page_approve_of_a_failing_application_without_override_is_refused(client, manager, queue):
    enrolment = queue["failing"]
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "approve"), {"reason": "Looks good", "override_reason": ""})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [OVERRIDE_REQUIRED.format(rules="Followers")]
    assert enrolment_state(enrolment) == before


def test_decide_page_approve_with_an_override_records_it(client, manager, queue):
    enrolment = queue["failing"]
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "approve"),
                           {"reason": "Looks good", "override_reason": "Partner of a flagship show"})

    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.eligibility_override_reason) == (S.APPROVED, "Partner of a flagship show")


def test_decide_page_can_approve_a_not_yet_evaluated_failing_application_with_an_override(client, manager):
    enrolment = EnrolmentFactory(program=ProgramFactory(min_followers=100_000), eligibility=[],
                                 eligibility_passed=None)
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "approve"),
                           {"reason": "Looks good", "override_reason": "Partner of a flagship show"})

    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.eligibility_override_reason) == (S.APPROVED, "Partner of a flagship show")


def test_decide_page_for_an_unknown_action_redirects_with_an_error(client, manager, queue):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = client.post(decide_url(enrolment, "delete"), {"reason": "x"})

    assert response.status_code == 302
    assert messages_of(response) == [("error", "Unknown decision “delete”.")]
    assert enrolment_state(enrolment) == before


def test_history_page_lists_the_decision_with_who_and_why(client, manager, queue):
    enrolment = queue["eligible"]
    client.force_login(manager)
    client.post(decide_url(enrolment, "reject"), {"reason": "Audience outside our markets"})

    response = client.get(admin_url(Enrolment, "history", enrolment.pk))

    assert response.status_code == 200
    records = list(response.context["page_obj"])
    assert [(r.status, r.history_user, r.history_change_reason) for r in records] == [
        (S.REJECTED, manager, "Rejected: Audience outside our markets"),
        (S.SUBMITTED, None, "Application submitted"),
    ]
    assert "Rejected: Audience outside our markets" in response.content.decode()


def test_change_page_offers_the_decisions_the_manager_may_take(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "change", queue["eligible"].pk))

    assert response.context["decision_actions"] == ["approve", "reject", "withdraw"]
    assert decide_url(queue["eligible"], "approve") in response.content.decode()


# --- the add page records an application through the service --------------------------------------

def test_adding_an_enrolment_submits_it_through_the_service(client, manager):
    partner = PartnerFactory(handle="dancing.dani")
    DailyMetricFactory(partner=partner, followers=150_000)
    program = ProgramFactory(min_followers=100_000)
    client.force_login(manager)

    response = client.post(admin_url(Enrolment, "add"), {"partner": partner.pk, "program": program.pk})

    assert response.status_code == 302
    enrolment = Enrolment.objects.get()
    assert (enrolment.partner, enrolment.program, enrolment.status, enrolment.eligibility_passed) == (
        partner, program, S.SUBMITTED, True)
    history = enrolment.history.get()
    assert (history.history_user, history.history_change_reason) == (manager, "Application submitted")


def test_adding_an_enrolment_to_a_closed_program_shows_the_refusal_and_saves_nothing(client, manager):
    partner = PartnerFactory()
    program = ProgramFactory(name="Creator Fund", is_open=False)
    client.force_login(manager)

    response = client.post(admin_url(Enrolment, "add"), {"partner": partner.pk, "program": program.pk})

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "The program “Creator Fund” is closed to new applications."]
    assert Enrolment.objects.count() == 0
    assert Enrolment.history.count() == 0


# --- 6. permissions -------------------------------------------------------------------------------

def test_outsider_cannot_open_the_application_queue(client, outsider, queue):
    client.force_login(outsider)

    response = client.get(admin_url(Enrolment, "changelist"))

    assert response.status_code == 403


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_outsider_bulk_action_changes_nothing(client, outsider, queue, action):
    selected = [queue["eligible"], queue["failing"]]
    before = [enrolment_state(e) for e in selected]
    client.force_login(outsider)

    response = bulk(client, action, selected, apply="1", reason="Because", override_reason="Because")

    assert response.status_code == 403
    assert [enrolment_state(e) for e in selected] == before


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_outsider_decide_post_redirects_with_an_error_and_changes_nothing(client, outsider, queue, action):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(outsider)

    response = client.post(decide_url(enrolment, action), {"reason": "Because"})

    assert response.status_code == 302
    assert response["Location"] == admin_url(Enrolment, "change", enrolment.pk)
    assert messages_of(response) == [("error", f"You may not {action} applications.")]
    assert enrolment_state(enrolment) == before


@pytest.mark.parametrize("model", [Partner, Enrolment, Program, Category, DailyMetric])
def test_finance_can_view_the_lists(client, finance, one_of_each, model):
    client.force_login(finance)

    response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model_name", ["partner", "enrolment"])
def test_finance_can_view_partners_and_enrolments(client, finance, one_of_each, model_name):
    obj = one_of_each[model_name]
    client.force_login(finance)

    response = client.get(admin_url(type(obj), "change", obj.pk))

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False


def test_a_manager_is_offered_the_bulk_decisions_of_the_transition_table(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"))

    offered = [name for name, _ in response.context["cl"].model_admin.get_action_choices(response.wsgi_request)]
    decisions = [name for name in offered if name.removesuffix("_selected") in ENROLMENT_TRANSITIONS]
    assert decisions == [f"{action}_selected" for action in BULK_ACTIONS] == ["approve_selected", "reject_selected"]


def test_finance_is_not_offered_bulk_decisions(client, finance, queue):
    client.force_login(finance)

    response = client.get(admin_url(Enrolment, "changelist"))

    offered = [name for name, _ in response.context["cl"].model_admin.get_action_choices(response.wsgi_request)]
    assert "approve_selected" not in offered
    assert "reject_selected" not in offered
    assert "approve_selected" not in response.content.decode()


def test_finance_is_not_offered_decisions_on_the_change_page(client, finance, queue):
    enrolment = queue["eligible"]
    client.force_login(finance)

    response = client.get(admin_url(Enrolment, "change", enrolment.pk))

    assert response.context["decision_actions"] == []
    assert "/decide/" not in response.content.decode()


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_finance_bulk_action_changes_nothing(client, finance, queue, action):
    selected = [queue["eligible"], queue["failing"]]
    before = [enrolment_state(e) for e in selected]
    client.force_login(finance)

    response = bulk(client, action, selected, apply="1", reason="Because", override_reason="Because")

    # Finance has no action at all, so the admin ignores the posted one and shows the list again.
    assert response.status_code == 200
    assert "admin/change_list.html" in [template.name for template in response.templates]
    assert messages_of(response) == []
    assert [enrolment_state(e) for e in selected] == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_finance_decide_url_redirects_with_an_error_and_changes_nothing(client, finance, queue, method):
    enrolment = queue["eligible"]
    before = enrolment_state(enrolment)
    client.force_login(finance)

    response = getattr(client, method)(decide_url(enrolment, "approve"), {"reason": "Because"})

    assert response.status_code == 302
    assert response["Location"] == admin_url(Enrolment, "change", enrolment.pk)
    assert messages_of(response) == [("error", "You may not approve applications.")]
    assert enrolment_state(enrolment) == before


@pytest.mark.parametrize("user_fixture", ["finance", "outsider"])
def test_reevaluate_without_the_decide_permission_changes_nothing(client, request, queue, user_fixture):
    enrolment = queue["failing"]
    DailyMetricFactory(partner=enrolment.partner, day=timezone.localdate(), followers=500_000)
    before = enrolment_state(enrolment)
    client.force_login(request.getfixturevalue(user_fixture))

    client.post(reverse("admin:partnerships_enrolment_reevaluate", args=[enrolment.pk]))

    assert enrolment_state(enrolment) == before


def test_reevaluate_of_an_unknown_enrolment_is_not_found(client, manager):
    client.force_login(manager)

    response = client.post(reverse("admin:partnerships_enrolment_reevaluate", args=[999_999]))

    assert response.status_code == 404


def test_manager_reevaluates_eligibility_from_the_change_page(client, manager, queue):
    enrolment = queue["failing"]
    DailyMetricFactory(partner=enrolment.partner, day=timezone.localdate(), followers=500_000)
    client.force_login(manager)

    response = client.post(reverse("admin:partnerships_enrolment_reevaluate", args=[enrolment.pk]))

    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert enrolment.eligibility_passed is True
    assert enrolment.history.latest().history_user == manager
    assert messages_of(response) == [("success", "Eligibility re-evaluated: all 7 rules pass.")]
