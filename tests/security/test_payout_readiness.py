"""Separation of duties: a partner's payout readiness (tax form, identity) is finance's, set with a reason and kept
in the history; partnership managers cannot set it, through the admin form, its own page or an import."""

import pytest
from django.urls import reverse

from core.permissions import NO_PERMISSION, REASON_REQUIRED
from partnerships.exceptions import NotPermitted, ReasonRequired
from partnerships.models import Partner
from partnerships.services.partners import PAYOUT_READINESS_PERMISSION, partner_set_payout_readiness
from tests.partnerships.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(db):
    """A partner a run holds: no tax form, identity not verified."""
    return PartnerFactory(handle="held", tax_form_on_file=False, identity_verified=False)


def change_form_data(partner, **overrides):
    data = {"handle": partner.handle, "display_name": partner.display_name, "kind": partner.kind,
            "country": partner.country, "date_of_birth": str(partner.date_of_birth or ""), "age_verified": "on",
            "statistics-TOTAL_FORMS": "0", "statistics-INITIAL_FORMS": "0", "statistics-MIN_NUM_FORMS": "0",
            "statistics-MAX_NUM_FORMS": "0", "_save": "Save",
            # The past screening flags (payouts' read-only inline): a browser posts its management form too.
            "screening_flags-TOTAL_FORMS": "0", "screening_flags-INITIAL_FORMS": "0",
            "screening_flags-MIN_NUM_FORMS": "0", "screening_flags-MAX_NUM_FORMS": "0"}
    data.update(overrides)
    return data


def readiness(partner):
    partner.refresh_from_db()
    return partner.tax_form_on_file, partner.identity_verified


def test_a_managers_post_of_the_change_form_leaves_the_flags_as_they_were(client, manager, held):
    client.force_login(manager)
    url = reverse("admin:partnerships_partner_change", args=[held.pk])
    response = client.post(url, change_form_data(held, display_name="Renamed", tax_form_on_file="on",
                                                 identity_verified="on"))
    assert response.status_code == 302  # the rest of the form is saved ...
    held.refresh_from_db()
    assert held.display_name == "Renamed"
    assert readiness(held) == (False, False)  # ... the payout readiness is not
    page = client.get(url).content.decode()
    assert 'name="tax_form_on_file"' not in page
    assert "Payout readiness…" not in page


def test_a_manager_is_refused_the_payout_readiness_page_and_nothing_changes(client, manager, held):
    client.force_login(manager)
    url = reverse("admin:partnerships_partner_payout_readiness", args=[held.pk])
    response = client.post(url, {"tax_form_on_file": "on", "identity_verified": "on", "reason": "trust me"})
    assert response.status_code == 403
    assert readiness(held) == (False, False)
    assert held.history.count() == 1  # only its creation


def test_the_service_refuses_a_manager_and_a_missing_reason(manager, finance, held):
    with pytest.raises(NotPermitted) as refused:
        partner_set_payout_readiness(partner_id=held.pk, actor=manager, tax_form_on_file=True,
                                              identity_verified=True, reason="ok")
    assert str(refused.value) == NO_PERMISSION.format(
        user=manager, action="change a partner's payout readiness", permission="partnerships.change_payout_readiness")
    with pytest.raises(ReasonRequired) as no_reason:
        partner_set_payout_readiness(partner_id=held.pk, actor=finance, tax_form_on_file=True,
                                              identity_verified=True, reason="  ")
    assert str(no_reason.value) == REASON_REQUIRED.format(action="change a partner's payout readiness")
    assert readiness(held) == (False, False)


def test_finance_records_readiness_with_a_reason_and_the_history_shows_who_and_why(client, finance, held):
    client.force_login(finance)
    change_url = reverse("admin:partnerships_partner_change", args=[held.pk])
    assert "Payout readiness…" in client.get(change_url).content.decode()
    url = reverse("admin:partnerships_partner_payout_readiness", args=[held.pk])
    assert client.post(url, {"tax_form_on_file": "on", "identity_verified": "on", "reason": ""}).status_code == 200
    assert readiness(held) == (False, False)  # no reason, no change

    response = client.post(url, {"tax_form_on_file": "on", "identity_verified": "on", "reason": "W-9 received"})
    assert response.status_code == 302
    assert readiness(held) == (True, True)
    latest = held.history.latest()
    assert latest.history_user == finance
    assert latest.history_change_reason == (
        "Payout readiness (tax form on file yes, identity verified yes): W-9 received")
    assert "W-9 received" in client.get(change_url).content.decode()  # the timeline on the partner's page


def test_the_finance_group_has_the_permission_and_managers_do_not(manager, finance):
    assert finance.has_perm(PAYOUT_READINESS_PERMISSION)
    assert not manager.has_perm(PAYOUT_READINESS_PERMISSION)


def test_an_unchanged_submission_writes_no_history(finance, held):
    before = held.history.count()
    partner_set_payout_readiness(partner_id=held.pk, actor=finance, tax_form_on_file=False,
                                          identity_verified=False, reason="checked again")
    assert held.history.count() == before
    assert Partner.objects.get(pk=held.pk).tax_form_on_file is False
