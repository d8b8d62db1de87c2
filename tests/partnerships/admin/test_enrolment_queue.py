"""The application queue filters and searches, and bulk decisions ask for a reason on an intermediate page
and report what they skipped."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from partnerships.exceptions import ALREADY_DECIDED, CANNOT_TRANSITION, HARD_RULE_FAILED, OVERRIDE_REQUIRED
from partnerships.models import Enrolment
from partnerships.services.enrolments import enrolment_submit
from tests.partnerships.admin.helpers import admin_url, bulk, enrolment_state, listed, messages_of
from tests.partnerships.factories import PartnerFactory, ProgramFactory

S = Enrolment.Status


# --- 3. the application queue ---------------------------------------------------------------------
def test_queue_filters_by_program(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"program__id__exact": queue["strict"].pk})

    assert {e.pk for e in listed(response)} == {queue["eligible"].pk, queue["failing"].pk}


@pytest.mark.parametrize(("status", "expected"), [("submitted", {"eligible", "failing"}), ("rejected", {"rejected"})])
def test_queue_filters_by_status(client, manager, queue, status, expected):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"status__exact": status})

    assert {e.pk for e in listed(response)} == {queue[name].pk for name in expected}


def test_queue_filters_by_eligibility(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"eligible": "no"})

    assert [e.pk for e in listed(response)] == [queue["failing"].pk]


def test_queue_searches_by_exact_handle(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"q": "cooking.carl"})

    assert [e.pk for e in listed(response)] == [queue["failing"].pk]


def test_queue_shows_the_eligibility_summary_of_each_application(client, manager, queue):
    client.force_login(manager)

    response = client.get(admin_url(Enrolment, "changelist"), {"program__id__exact": queue["strict"].pk})

    html = response.content.decode()
    assert html.count(">passes</span>") == 1
    assert html.count(">fails 1 rule</span>") == 1
    assert "Select enrolment to change" not in html
    assert "<h1>Applications</h1>" in html


# --- 4. bulk decisions with the intermediate page -------------------------------------------------


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_bulk_first_post_asks_for_a_reason_and_changes_nothing(client, manager, queue, action):
    selected = [queue["eligible"], queue["failing"], queue["rejected"]]
    before = [enrolment_state(e) for e in selected]
    client.force_login(manager)

    response = bulk(client, action, selected)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/partnerships/enrolment/decide.html"
    assert 'name="reason"' in response.content.decode()
    assert [e.pk for e in response.context["objects"]] == sorted(e.pk for e in selected)
    assert [enrolment_state(e) for e in selected] == before
    assert messages_of(response) == []


def test_bulk_approve_page_offers_an_override_when_an_application_fails_a_rule(client, manager, queue):
    client.force_login(manager)

    response = bulk(client, "approve", [queue["eligible"], queue["failing"]])

    assert "override_reason" in response.context["form"].fields
    assert response.context["failing"] == [queue["failing"]]


def test_bulk_approve_page_has_no_override_when_every_application_passes(client, manager, queue):
    client.force_login(manager)

    response = bulk(client, "approve", [queue["eligible"]])

    assert "override_reason" not in response.context["form"].fields


def test_bulk_approve_approves_eligible_and_reports_each_skip_with_its_reason(client, manager, queue):
    eligible, failing, rejected = queue["eligible"], queue["failing"], queue["rejected"]
    failing_before, rejected_before = enrolment_state(failing), enrolment_state(rejected)
    client.force_login(manager)

    response = bulk(client, "approve", [eligible, failing, rejected], apply="1", reason="Strong audience")

    assert response.status_code == 302
    eligible.refresh_from_db()
    assert (eligible.status, eligible.decided_by, eligible.decision_reason) == (S.APPROVED, manager,
                                                                               "Strong audience")
    assert eligible.eligibility_override_reason == ""
    assert enrolment_state(failing) == failing_before
    assert enrolment_state(rejected) == rejected_before
    already = ALREADY_DECIDED.format(status="rejected", who=manager, when=rejected.decided_at) + " " + \
        CANNOT_TRANSITION.format(action="approve", status="rejected", allowed="submitted", done="approved")
    assert messages_of(response) == [
        ("success", f"1 application approved: #{eligible.pk} @dancing.dani."),
        ("warning", "2 applications skipped:"),
        ("warning", f"#{failing.pk} @cooking.carl: " + OVERRIDE_REQUIRED.format(rules="Followers")),
        ("warning", f"#{rejected.pk} @prof.pat: {already}"),
    ]


def test_bulk_approve_records_the_decision_in_history(client, manager, queue):
    eligible = queue["eligible"]
    client.force_login(manager)

    bulk(client, "approve", [eligible], apply="1", reason="Strong audience")

    latest = eligible.history.latest()
    assert (latest.status, latest.history_user, latest.history_change_reason) == (
        S.APPROVED, manager, "Approved: Strong audience")
    assert eligible.history.count() == 2


def test_bulk_approve_with_an_override_approves_a_failing_application_and_records_the_override(
    client, manager, queue
):
    failing = queue["failing"]
    client.force_login(manager)

    response = bulk(client, "approve", [failing], apply="1", reason="Niche but engaged",
                    override_reason="Followers grow 20% a month")

    assert response.status_code == 302
    failing.refresh_from_db()
    assert (failing.status, failing.decided_by, failing.eligibility_override_reason) == (
        S.APPROVED, manager, "Followers grow 20% a month")
    latest = failing.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (
        manager, "Approved: Niche but engaged (eligibility override: Followers grow 20% a month)")
    assert messages_of(response) == [("success", f"1 application approved: #{failing.pk} @cooking.carl.")]


def test_bulk_approve_override_cannot_approve_a_minor(client, manager):
    program = ProgramFactory(name="Creator Fund")
    minor = PartnerFactory(handle="young.yan", date_of_birth=timezone.localdate() - dt.timedelta(days=12 * 365))
    enrolment = enrolment_submit(partner_id=minor.pk, program_id=program.pk)
    before = enrolment_state(enrolment)
    client.force_login(manager)

    response = bulk(client, "approve", [enrolment], apply="1", reason="Great content",
                    override_reason="Parents agreed")

    assert response.status_code == 302
    assert enrolment_state(enrolment) == before
    assert messages_of(response) == [
        ("warning", "1 application skipped:"),
        ("warning", f"#{enrolment.pk} @young.yan: " + HARD_RULE_FAILED.format(rules="Minimum age")),
    ]


def test_bulk_reject_rejects_submitted_and_skips_the_already_rejected(client, second_manager, manager, queue):
    eligible, failing, rejected = queue["eligible"], queue["failing"], queue["rejected"]
    rejected_before = enrolment_state(rejected)
    client.force_login(second_manager)

    response = bulk(client, "reject", [eligible, failing, rejected], apply="1", reason="Program is full")

    assert response.status_code == 302
    for enrolment in (eligible, failing):
        enrolment.refresh_from_db()
        assert (enrolment.status, enrolment.decided_by, enrolment.decision_reason) == (
            S.REJECTED, second_manager, "Program is full")
        latest = enrolment.history.latest()
        assert (latest.history_user, latest.history_change_reason) == (second_manager, "Rejected: Program is full")
    assert enrolment_state(rejected) == rejected_before
    already = ALREADY_DECIDED.format(status="rejected", who=manager, when=rejected.decided_at) + " " + \
        CANNOT_TRANSITION.format(action="reject", status="rejected", allowed="submitted", done="rejected")
    assert messages_of(response) == [
        ("success", f"2 applications rejected: #{eligible.pk} @dancing.dani, #{failing.pk} @cooking.carl."),
        ("warning", "1 application skipped:"),
        ("warning", f"#{rejected.pk} @prof.pat: {already}"),
    ]


def test_bulk_reject_without_a_reason_shows_an_error_and_changes_nothing(client, manager, queue):
    selected = [queue["eligible"], queue["failing"]]
    before = [enrolment_state(e) for e in selected]
    client.force_login(manager)

    response = bulk(client, "reject", selected, apply="1", reason="  ")

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert [enrolment_state(e) for e in selected] == before
    assert messages_of(response) == []
