"""The partner list searches and filters; suspend and reinstate ask for a reason, refuse without the
permission, and the partner page shows the timeline."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from partnerships.models import Partner
from partnerships.services.enrolments import enrolment_approve, enrolment_reject, enrolment_suspend
from partnerships.services.partners import partner_suspend
from tests.partnerships.admin.helpers import (
    admin_url,
    listed_handles,
    messages_of,
    partner_state,
    standing_url,
    submitted,
)
from tests.partnerships.factories import ProgramFactory

# --- 2. the partner list: search and filters ------------------------------------------------------

ALL_HANDLES = {"dancing.dani", "cooking.carl", "big.news", "prof.pat", "new.nina"}


def test_partner_list_without_filters_lists_everyone(client, manager, partner_directory):
    client.force_login(manager)

    assert listed_handles(client.get(admin_url(Partner, "changelist"))) == ALL_HANDLES


@pytest.mark.parametrize(
    ("query", "handles"),
    [
        pytest.param({"q": "ing.da"}, {"dancing.dani"}, id="handle-fragment"),
        pytest.param({"q": "cooks"}, {"cooking.carl"}, id="display-name-fragment"),
        pytest.param({"kind__exact": "educator"}, {"prof.pat"}, id="kind"),
        pytest.param({"country": "DE"}, {"cooking.carl", "prof.pat"}, id="country"),
        pytest.param({"status__exact": "suspended"}, {"prof.pat"}, id="status"),
        pytest.param({"followers": "100k-1m"}, {"dancing.dani", "cooking.carl"}, id="followers-100k-1m"),
        pytest.param({"followers": "gte1m"}, {"big.news"}, id="followers-gte1m"),
        pytest.param({"followers": "10k-100k"}, {"prof.pat"}, id="followers-10k-100k"),
        pytest.param({"country": "DE", "status__exact": "active"}, {"cooking.carl"}, id="country-and-status"),
    ],
)
def test_partner_list_filters_narrow_the_list(client, manager, partner_directory, query, handles):
    client.force_login(manager)

    response = client.get(admin_url(Partner, "changelist"), query)

    assert listed_handles(response) == handles
    html = response.content.decode()
    assert {handle for handle in ALL_HANDLES if f">{handle}</a>" in html} == handles


@pytest.mark.parametrize(("category", "handles"), [("comedy", {"dancing.dani"}), ("education", {"cooking.carl"})])
def test_partner_list_category_filter(client, manager, partner_directory, category, handles):
    client.force_login(manager)

    response = client.get(admin_url(Partner, "changelist"), {"category": partner_directory[category].pk})

    assert listed_handles(response) == handles


def test_partner_list_country_filter_offers_the_countries_present(client, manager, partner_directory):
    client.force_login(manager)

    response = client.get(admin_url(Partner, "changelist"))

    country_filter = next(spec for spec in response.context["cl"].filter_specs if spec.title == "country")
    assert country_filter.lookup_choices == [("DE", "DE"), ("FR", "FR"), ("GB", "GB"), ("US", "US")]


# --- 6. permissions of the standing pages -----------------------------------------------------------

@pytest.mark.parametrize("user_fixture", ["finance", "outsider"])
def test_standing_url_without_permission_redirects_with_an_error_and_changes_nothing(
    client, request, queue, user_fixture
):
    partner = queue["eligible"].partner
    before = partner_state(partner)
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.post(standing_url(partner, "suspend"), {"reason": "Because"})

    assert response.status_code == 302
    assert messages_of(response) == [("error", "You may not change this partner's standing.")]
    assert partner_state(partner) == before


def test_finance_is_not_offered_suspend_on_the_partner_page(client, finance, queue):
    partner = queue["eligible"].partner
    client.force_login(finance)

    response = client.get(admin_url(Partner, "change", partner.pk))

    assert response.context["can_suspend"] is False
    assert standing_url(partner, "suspend") not in response.content.decode()


# --- 7. suspend and reinstate a partner -----------------------------------------------------------

def test_standing_page_get_shows_a_form_and_changes_nothing(client, manager, one_of_each):
    partner = one_of_each["partner"]
    before = partner_state(partner)
    client.force_login(manager)

    response = client.get(standing_url(partner, "suspend"))

    assert response.status_code == 200
    assert list(response.context["form"].fields) == ["reason"]
    assert partner_state(partner) == before


def test_partner_page_offers_suspend_to_a_manager(client, manager, one_of_each):
    partner = one_of_each["partner"]
    client.force_login(manager)

    response = client.get(admin_url(Partner, "change", partner.pk))

    html = response.content.decode()
    assert standing_url(partner, "suspend") in html
    assert standing_url(partner, "reinstate") not in html


def test_suspend_with_a_reason_records_who_and_why(client, manager, one_of_each):
    partner = one_of_each["partner"]
    client.force_login(manager)

    response = client.post(standing_url(partner, "suspend"), {"reason": "Fake followers detected"})

    assert response.status_code == 302
    assert response["Location"] == admin_url(Partner, "change", partner.pk)
    partner.refresh_from_db()
    assert (partner.status, partner.status_reason, partner.status_changed_by) == (
        Partner.Status.SUSPENDED, "Fake followers detected", manager)
    assert partner.status_changed_at is not None
    latest = partner.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (manager, "Suspend: Fake followers detected")
    assert messages_of(response) == [("success", "@dancing.dani: suspend done.")]


def test_partner_page_history_shows_the_suspension_reason(client, manager, one_of_each):
    partner = one_of_each["partner"]
    client.force_login(manager)
    client.post(standing_url(partner, "suspend"), {"reason": "Fake followers detected"})

    response = client.get(admin_url(Partner, "change", partner.pk))

    html = response.content.decode()
    assert "<td>Suspend: Fake followers detected</td>" in html
    assert "status: active → suspended" in html
    assert standing_url(partner, "reinstate") in html


def test_reinstate_with_a_reason_restores_the_partner(client, manager, second_manager, one_of_each):
    partner = one_of_each["partner"]
    partner_suspend(partner_id=partner.pk, actor=second_manager, reason="Fake followers detected")
    client.force_login(manager)

    response = client.post(standing_url(partner, "reinstate"), {"reason": "Audit cleared the account"})

    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.status, partner.status_reason, partner.status_changed_by) == (
        Partner.Status.ACTIVE, "Audit cleared the account", manager)
    page = client.get(admin_url(Partner, "change", partner.pk)).content.decode()
    assert "<td>Reinstate: Audit cleared the account</td>" in page
    assert "<td>Suspend: Fake followers detected</td>" in page


def test_suspend_without_a_reason_is_refused_and_changes_nothing(client, manager, one_of_each):
    partner = one_of_each["partner"]
    before = partner_state(partner)
    client.force_login(manager)

    response = client.post(standing_url(partner, "suspend"), {"reason": " "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert partner_state(partner) == before


def test_reinstate_of_an_active_partner_is_refused_and_changes_nothing(client, manager, one_of_each):
    partner = one_of_each["partner"]
    before = partner_state(partner)
    client.force_login(manager)

    response = client.post(standing_url(partner, "reinstate"), {"reason": "Just in case"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["@dancing.dani is already active."]
    assert partner_state(partner) == before


def test_bulk_suspend_first_post_asks_for_a_reason_and_changes_nothing(client, manager, partner_directory):
    partners = list(Partner.objects.filter(handle__in=["dancing.dani", "prof.pat"]))
    before = [partner_state(p) for p in partners]
    client.force_login(manager)

    response = client.post(admin_url(Partner, "changelist"),
                           {"action": "suspend_selected", ACTION_CHECKBOX_NAME: [p.pk for p in partners]})

    assert response.status_code == 200
    assert response.templates[0].name == "admin/partnerships/partner/standing.html"
    assert 'name="reason"' in response.content.decode()
    assert [partner_state(p) for p in partners] == before


def test_bulk_suspend_suspends_and_skips_the_already_suspended(client, manager, partner_directory):
    dani, pat = Partner.objects.get(handle="dancing.dani"), Partner.objects.get(handle="prof.pat")
    pat_before = partner_state(pat)
    client.force_login(manager)

    response = client.post(admin_url(Partner, "changelist"), {
        "action": "suspend_selected", ACTION_CHECKBOX_NAME: [dani.pk, pat.pk], "apply": "1",
        "reason": "Bought followers",
    })

    assert response.status_code == 302
    dani.refresh_from_db()
    assert (dani.status, dani.status_reason, dani.status_changed_by) == (
        Partner.Status.SUSPENDED, "Bought followers", manager)
    assert partner_state(pat) == pat_before
    assert messages_of(response) == [
        ("success", "1 partner suspended."),
        ("warning", "Skipped @prof.pat: @prof.pat is already suspended."),
    ]


def test_bulk_suspend_without_a_reason_changes_nothing(client, manager, partner_directory):
    partners = list(Partner.objects.all())
    before = [partner_state(p) for p in partners]
    client.force_login(manager)

    response = client.post(admin_url(Partner, "changelist"), {
        "action": "suspend_selected", ACTION_CHECKBOX_NAME: [p.pk for p in partners], "apply": "1", "reason": "",
    })

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert [partner_state(p) for p in partners] == before


# --- 8. the partner page's timeline ---------------------------------------------------------------

def test_partner_page_shows_the_timeline_of_enrolment_decisions(client, manager, second_manager):
    program = ProgramFactory(name="Creator Fund")
    enrolment = submitted(program, followers=20_000, handle="dancing.dani", actor=second_manager)
    enrolment_reject(enrolment_id=enrolment.pk, actor=manager, reason="Audience outside our markets")
    client.force_login(manager)

    response = client.get(admin_url(Partner, "change", enrolment.partner_id))

    html = response.content.decode()
    assert "<td>manager</td><td>Enrolment in Creator Fund</td><td>status rejected</td>" \
        "<td>Rejected: Audience outside our markets</td>" in html
    assert "<td>manager2</td><td>Enrolment in Creator Fund</td><td>created (submitted)</td>" \
        "<td>Application submitted</td>" in html


def test_timeline_lists_newest_first(client, manager):
    program = ProgramFactory(name="Creator Fund")
    enrolment = submitted(program, followers=20_000, handle="dancing.dani", actor=manager)
    enrolment_approve(enrolment_id=enrolment.pk, actor=manager, reason="Welcome")
    enrolment_suspend(enrolment_id=enrolment.pk, actor=manager, reason="Paused for review")
    client.force_login(manager)

    html = client.get(admin_url(Partner, "change", enrolment.partner_id)).content.decode()

    positions = [html.index(text) for text in ("Suspended: Paused for review", "Approved: Welcome",
                                               "Application submitted")]
    assert positions == sorted(positions)
