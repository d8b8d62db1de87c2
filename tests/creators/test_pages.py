"""The creator pages: programs with eligibility rule by rule, apply and withdraw through the services (the creator's
user recorded), invitations answered with a message, earnings with explanations and CSV, profile and preferences."""

import datetime as dt

import pytest
from django.utils import formats, timezone

from creators.models import NotificationPreference, PartnerContact
from partnerships.models import Enrolment, Invitation
from payouts.models import EarningLine, PayoutRun
from tests.marketplace.factories import CampaignFactory
from tests.partnerships.factories import EnrolmentFactory, PartnerStatisticsFactory, ProgramFactory


def partner_of(user):
    return user.creator_membership.partner


def invite(partner, *, expires_in=dt.timedelta(days=7), **fields):
    campaign = CampaignFactory(brief="Three short videos about our app", deliverables="3 videos, 30 s each",
                               status="open")
    now = timezone.now()
    return Invitation.objects.create(campaign=campaign, partner=partner, offered_fee_minor=150_000, currency="USD",
                                     invited_at=now, expires_at=now + expires_in, **fields)


def approved_line(partner, *, status=PayoutRun.Status.APPROVED, month=dt.date(2026, 10, 1)):
    program = ProgramFactory(name="Creator Fund")
    run = PayoutRun.objects.create(program=program, month=month, kind=PayoutRun.Kind.FINAL, status=status,
                                   currency="USD", as_of=month.replace(day=28), budget_minor=1_000_00,
                                   started_at=timezone.now())
    return EarningLine.objects.create(run=run, partner=partner, basis=EarningLine.Basis.VIEWS, basis_value=250,
                                      basis_total=1000, gross_minor=250_00, net_minor=250_00)


@pytest.mark.django_db
def test_programs_show_each_rule_with_value_threshold_and_result(creator_client, creator):
    PartnerStatisticsFactory(partner=partner_of(creator), followers=1200)
    ProgramFactory(name="Top Creators", min_followers=5000)
    page = creator_client.get("/creators/programs/").content.decode()
    assert "Top Creators" in page
    assert "1,200" in page
    assert "≥ 5,000" in page
    assert ">fail<" in page
    assert "Minimum age" in page
    assert ">pass<" in page


@pytest.mark.django_db
def test_apply_records_a_pending_application_by_the_creators_user(creator_client, creator):
    program = ProgramFactory(name="Top Creators")
    response = creator_client.post(f"/creators/programs/{program.pk}/apply/", follow=True)
    enrolment = Enrolment.objects.get(partner=partner_of(creator), program=program)
    assert enrolment.status == Enrolment.Status.SUBMITTED
    assert enrolment.history.first().history_user == creator
    assert "pending" in response.content.decode()
    assert "Submitted" in response.content.decode()


@pytest.mark.django_db
def test_apply_during_the_cooldown_is_refused_with_the_date(creator_client, creator):
    program = ProgramFactory(name="Top Creators", reapply_cooldown_days=30)
    decided = timezone.now() - dt.timedelta(days=5)
    EnrolmentFactory(partner=partner_of(creator), program=program, status=Enrolment.Status.REJECTED,
                     decided_at=decided, decision_reason="Too few posts")
    allowed = formats.date_format(decided + dt.timedelta(days=30), "DATE_FORMAT")
    page = creator_client.get("/creators/programs/").content.decode()
    assert "Too few posts" in page
    assert f"You may apply again from {allowed} (cool-down after a rejection)." in page
    response = creator_client.post(f"/creators/programs/{program.pk}/apply/", follow=True)
    assert response.content.decode().count(f"You may apply again from {allowed}") == 2  # the message and the card
    assert Enrolment.objects.filter(program=program).count() == 1


@pytest.mark.django_db
def test_withdraw_by_the_creator(creator_client, creator):
    enrolment = EnrolmentFactory(partner=partner_of(creator))
    creator_client.post(f"/creators/applications/{enrolment.pk}/withdraw/")
    enrolment.refresh_from_db()
    assert enrolment.status == Enrolment.Status.WITHDRAWN
    assert enrolment.decided_by == creator


@pytest.mark.django_db
def test_accept_an_invitation_with_a_message_and_the_brand_sees_it(creator_client, creator, client):
    invitation = invite(partner_of(creator))
    page = creator_client.get(f"/creators/invitations/{invitation.pk}/").content.decode()
    assert "Three short videos about our app" in page
    assert "3 videos, 30 s each" in page
    assert "1,500.00 USD" in page
    creator_client.post(f"/creators/invitations/{invitation.pk}/", {"answer": "accept", "message": "Happy to!"})
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.answer_message == "Happy to!"
    assert invitation.history.first().history_user == creator


@pytest.mark.django_db
def test_decline(creator_client, creator):
    invitation = invite(partner_of(creator))
    creator_client.post(f"/creators/invitations/{invitation.pk}/", {"answer": "decline", "message": ""})
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.DECLINED


@pytest.mark.django_db
def test_accept_after_expiry_is_refused_with_a_sentence(creator_client, creator):
    invitation = invite(partner_of(creator), expires_in=dt.timedelta(seconds=-1))
    response = creator_client.post(f"/creators/invitations/{invitation.pk}/", {"answer": "accept", "message": ""})
    assert response.status_code == 400
    assert "expired on" in response.content.decode()
    assert "can no longer be accepted" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.INVITED
    assert invitation.responded_at is None


@pytest.mark.django_db
def test_earnings_show_approved_lines_with_their_explanation_and_hide_computed_runs(creator_client, creator):
    approved_line(partner_of(creator))
    approved_line(partner_of(creator), status=PayoutRun.Status.COMPUTED, month=dt.date(2026, 11, 1))
    page = creator_client.get("/creators/earnings/").content.decode()
    assert "October 2026" in page
    assert "Share of the pool: 250 of 1,000 qualified views" in page
    assert "November 2026" not in page


@pytest.mark.django_db
def test_earnings_csv(creator_client, creator):
    approved_line(partner_of(creator))
    response = creator_client.get("/creators/earnings/2026-10.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert text.splitlines()[0].startswith("partner,display_name,program")
    assert "250.00" in text
    assert "Share of the pool" in text


@pytest.mark.parametrize("month", ["2026-13", "1999-01", "2026-1", "abcd-ef", "2026-11"])
@pytest.mark.django_db
def test_earnings_csv_refuses_bad_or_empty_months(creator_client, creator, month):
    approved_line(partner_of(creator))
    assert creator_client.get(f"/creators/earnings/{month}.csv").status_code == 404


@pytest.mark.django_db
def test_profile_saves_public_fields_opt_in_and_contact(creator_client, creator):
    response = creator_client.post("/creators/profile/", {"display_name": "Maya M", "opted_into_brand_deals": "on",
                                                          "contact_email": "hello@maya.example"})
    assert response.status_code == 302
    partner = partner_of(creator)
    partner.refresh_from_db()
    assert partner.display_name == "Maya M"
    assert partner.opted_into_brand_deals
    assert PartnerContact.objects.get(partner=partner).email == "hello@maya.example"
    assert partner.history.first().history_user == creator


@pytest.mark.django_db
def test_profile_refuses_bad_input_without_a_500(creator_client, creator):
    response = creator_client.post("/creators/profile/", {"display_name": "x" * 500, "contact_email": "nope"})
    assert response.status_code == 400


@pytest.mark.django_db
def test_preferences_are_saved(creator_client, creator):
    creator_client.post("/creators/notifications/", {"invitation_received": "on"})
    preference = NotificationPreference.objects.get(user=creator)
    assert preference.invitation_received
    assert not preference.application_decided


@pytest.mark.django_db
def test_pages_fit_a_phone(creator_client):
    page = creator_client.get("/creators/programs/").content.decode()
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
