"""Every page and download takes ids within the signed-in user's partner only: another partner's id is a 404 and
changes nothing, and no page shows another partner's data."""

import datetime as dt

import pytest

from partnerships.models import Enrolment, Invitation
from tests.creators.test_pages import approved_line, invite, partner_of
from tests.partnerships.factories import EnrolmentFactory


@pytest.fixture
def theirs(other_creator):
    partner = partner_of(other_creator)
    partner.display_name = "Secret Other Partner"
    partner.save()
    return {"enrolment": EnrolmentFactory(partner=partner, decision_reason="their reason"),
            "invitation": invite(partner, message="their brand message"),
            "line": approved_line(partner, month=dt.date(2026, 9, 1)), "partner": partner}


@pytest.mark.django_db
def test_another_partners_invitation_is_404_to_read_and_to_answer(creator_client, theirs):
    invitation = theirs["invitation"]
    assert creator_client.get(f"/creators/invitations/{invitation.pk}/").status_code == 404
    response = creator_client.post(f"/creators/invitations/{invitation.pk}/", {"answer": "accept", "message": ""})
    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.INVITED


@pytest.mark.django_db
def test_another_partners_application_is_404_to_withdraw(creator_client, theirs):
    enrolment = theirs["enrolment"]
    assert creator_client.post(f"/creators/applications/{enrolment.pk}/withdraw/").status_code == 404
    enrolment.refresh_from_db()
    assert enrolment.status == Enrolment.Status.SUBMITTED


@pytest.mark.django_db
def test_another_partners_statement_is_404(creator_client, theirs):
    assert creator_client.get("/creators/earnings/2026-09.csv").status_code == 404


@pytest.mark.django_db
def test_unknown_ids_are_404(creator_client):
    assert creator_client.post("/creators/programs/999999/apply/").status_code == 404
    assert creator_client.get("/creators/invitations/999999/").status_code == 404
    assert creator_client.post("/creators/applications/999999/withdraw/").status_code == 404


@pytest.mark.parametrize("path", ["/creators/programs/", "/creators/invitations/", "/creators/earnings/",
                                  "/creators/profile/", "/creators/notifications/"])
@pytest.mark.django_db
def test_no_page_shows_another_partners_data(creator_client, theirs, path):
    page = creator_client.get(path).content.decode()
    assert creator_client.get(path).status_code == 200
    for secret in ("Secret Other Partner", "their reason", "their brand message", "September 2026",
                   theirs["partner"].handle):
        assert secret not in page


@pytest.mark.django_db
def test_the_service_refuses_a_creator_answering_for_another_partner(creator, theirs):
    from partnerships.marketplace.services import MarketplaceError, invitation_answer

    with pytest.raises(MarketplaceError):
        invitation_answer(invitation_id=theirs["invitation"].pk, accept=True, actor=creator)


@pytest.mark.django_db
def test_the_service_refuses_a_creator_withdrawing_for_another_partner(creator, theirs):
    from partnerships.exceptions import NotPermitted
    from partnerships.services.enrolments import enrolment_withdraw

    with pytest.raises(NotPermitted):
        enrolment_withdraw(enrolment_id=theirs["enrolment"].pk, actor=creator)
