"""E-mail notifications through a real SMTP server started by the test (aiosmtpd): recipient, subject and link;
one e-mail per event even when its task runs twice; preferences respected, security notices always sent."""

import datetime as dt

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from core.tasks import enqueue
from creators.models import Notification, NotificationPreference
from partnerships.marketplace.services import invitation_answer
from partnerships.models import BrandMembership, Invitation
from partnerships.services.enrolments import enrolment_approve, enrolment_reject, enrolment_submit
from tests.creators.conftest import make_creator
from tests.creators.test_pages import invite, partner_of
from tests.marketplace.factories import BrandFactory, CampaignFactory
from tests.partnerships.factories import ProgramFactory, UserFactory


@pytest.mark.django_db
def test_application_decided_mails_every_user_of_the_partner(smtp, creator, manager,
                                                             django_capture_on_commit_callbacks):
    partner = partner_of(creator)
    colleague = make_creator(partner=partner, email="colleague@example.org")
    program = ProgramFactory(name="Top Creators")
    enrolment = enrolment_submit(partner_id=partner.pk, program_id=program.pk, actor=creator)
    with django_capture_on_commit_callbacks(execute=True):
        enrolment_approve(enrolment_id=enrolment.pk, actor=manager, reason="Welcome aboard")
    for user in (creator, colleague):
        [message] = smtp.to(user.email)
        assert message["Subject"] == "[Creator Partnerships] Your application to Top Creators: Approved"
        assert "http://127.0.0.1:8000/creators/programs/" in smtp.text(message)
        assert "Welcome aboard" in smtp.text(message)
        assert message.get_body(preferencelist=("html",)) is not None


@pytest.mark.django_db
def test_a_rejection_says_why(smtp, creator, manager, django_capture_on_commit_callbacks):
    program = ProgramFactory(name="Top Creators")
    enrolment = enrolment_submit(partner_id=partner_of(creator).pk, program_id=program.pk, actor=creator)
    with django_capture_on_commit_callbacks(execute=True):
        enrolment_reject(enrolment_id=enrolment.pk, actor=manager, reason="Too few posts")
    [message] = smtp.to(creator.email)
    assert message["Subject"].endswith("Top Creators: Rejected")
    assert "Too few posts" in smtp.text(message)


@pytest.mark.django_db
def test_the_same_event_never_mails_twice_even_when_its_task_runs_twice(smtp, creator, manager,
                                                                        django_capture_on_commit_callbacks):
    program = ProgramFactory()
    enrolment = enrolment_submit(partner_id=partner_of(creator).pk, program_id=program.pk, actor=creator)
    with django_capture_on_commit_callbacks(execute=True):
        enrolment_approve(enrolment_id=enrolment.pk, actor=manager)
    enrolment.refresh_from_db()
    event_key = f"enrolment:{enrolment.pk}:approved:{enrolment.decided_at.isoformat()}"
    enqueue("creators.notify_application_decided", enrolment.pk, event_key)  # a re-delivered message
    enqueue("creators.notify_application_decided", enrolment.pk, event_key)
    assert len(smtp.to(creator.email)) == 1
    assert Notification.objects.filter(event_key=event_key, user=creator).count() == 1


@pytest.mark.django_db
def test_a_failed_send_is_retried_and_then_sent_once(settings, smtp, creator, manager,
                                                     django_capture_on_commit_callbacks):
    program = ProgramFactory()
    enrolment = enrolment_submit(partner_id=partner_of(creator).pk, program_id=program.pk, actor=creator)
    real_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 1  # nothing listens: the send fails, the row is rolled back
    with pytest.raises(Retry), django_capture_on_commit_callbacks(execute=True):  # the task asks to be retried
        enrolment_approve(enrolment_id=enrolment.pk, actor=manager)
    assert not Notification.objects.filter(user=creator, sent_at__isnull=False).exists()
    settings.EMAIL_PORT = real_port
    enrolment.refresh_from_db()
    event_key = f"enrolment:{enrolment.pk}:approved:{enrolment.decided_at.isoformat()}"
    enqueue("creators.notify_application_decided", enrolment.pk, event_key)
    enqueue("creators.notify_application_decided", enrolment.pk, event_key)
    assert len(smtp.to(creator.email)) == 1


@pytest.mark.django_db
def test_a_turned_off_kind_is_not_sent_and_is_recorded_as_skipped(smtp, creator, manager,
                                                                   django_capture_on_commit_callbacks):
    NotificationPreference.objects.create(user=creator, application_decided=False)
    enrolment = enrolment_submit(partner_id=partner_of(creator).pk, program_id=ProgramFactory().pk, actor=creator)
    with django_capture_on_commit_callbacks(execute=True):
        enrolment_approve(enrolment_id=enrolment.pk, actor=manager)
    assert smtp.to(creator.email) == []
    assert Notification.objects.get(user=creator).skipped_reason


@pytest.mark.django_db
def test_security_notices_cannot_be_turned_off(smtp, client, creator, django_capture_on_commit_callbacks):
    NotificationPreference.objects.create(user=creator, application_decided=False, invitation_received=False,
                                          invitation_answered=False)
    creator.set_password("old password 12345 xyz")
    creator.save()
    client.force_login(creator, backend="django.contrib.auth.backends.ModelBackend")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/creators/account/password/change/", {
            "oldpassword": "old password 12345 xyz", "password1": "new password 67890 abc",
            "password2": "new password 67890 abc"})
    assert response.status_code == 302
    [message] = smtp.to(creator.email)
    assert message["Subject"] == "[Creator Partnerships] Security notice about your account"
    assert "Your password was changed." in smtp.text(message)


@pytest.mark.django_db
def test_invitation_received_mails_the_creator_with_the_link(smtp, creator, django_capture_on_commit_callbacks):
    partner = partner_of(creator)
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invite(partner)
    [message] = smtp.to(creator.email)
    assert message["Subject"] == f"[Creator Partnerships] {invitation.campaign.brand.name} invites you to a campaign"
    assert f"http://127.0.0.1:8000/creators/invitations/{invitation.pk}/" in smtp.text(message)
    assert "1,500.00 USD" in smtp.text(message)


@pytest.mark.django_db
def test_the_brand_is_told_when_an_invitation_is_answered(smtp, creator, django_capture_on_commit_callbacks):
    brand = BrandFactory(name="Acme")
    brand_user = UserFactory(username="acme-user", email="team@acme.example", is_staff=False)
    BrandMembership.objects.create(brand=brand, user=brand_user)
    partner = partner_of(creator)
    partner.opted_into_brand_deals = True
    partner.save()
    campaign = CampaignFactory(brand=brand, name="Spring", status="open")
    invitation = Invitation.objects.create(campaign=campaign, partner=partner, offered_fee_minor=100, currency="USD",
                                           invited_at=timezone.now(), expires_at=timezone.now() + dt.timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=True):
        invitation_answer(invitation_id=invitation.pk, accept=True, actor=creator, message="Count me in")
    [message] = smtp.to("team@acme.example")
    assert message["Subject"] == f"[Creator Partnerships] @{partner.handle} accepted your invitation to Spring"
    assert f"http://127.0.0.1:8000/brands/campaigns/{campaign.pk}/" in smtp.text(message)
    assert "Count me in" in smtp.text(message)


@pytest.mark.django_db
def test_the_claim_link_arrives_by_smtp(smtp, manager, django_capture_on_commit_callbacks):
    from creators.services.claims import claim_invitation_send
    from tests.partnerships.factories import PartnerFactory

    partner = PartnerFactory(handle="maya")
    with django_capture_on_commit_callbacks(execute=True):
        claim_invitation_send(partner_id=partner.pk, email="maya@example.org", actor=manager)
    [message] = smtp.to("maya@example.org")
    assert message["Subject"] == "[Creator Partnerships] Your account for @maya"
    assert "http://127.0.0.1:8000/creators/claim/" in smtp.text(message)


def test_task_names_are_pinned():
    from creators import tasks

    assert {task.name for task in (tasks.send_claim_link_task, tasks.notify_application_decided_task,
                                   tasks.notify_invitation_received_task, tasks.notify_invitation_answered_task,
                                   tasks.security_notice_task, tasks.send_email_task, tasks.notify_run_event_task,
                                   tasks.notify_invitation_deadlines_task, tasks.payout_details_notice_task,
                                   tasks.notify_payments_task)} == {
        "creators.send_claim_link", "creators.notify_application_decided", "creators.notify_invitation_received",
        "creators.notify_invitation_answered", "creators.security_notice", "creators.send_email",
        "creators.notify_run_event", "creators.notify_invitation_deadlines", "creators.payout_details_notice",
        "creators.notify_payments"}


@pytest.mark.django_db
def test_statement_ready_then_payment_sent_through_the_real_services(smtp, django_capture_on_commit_callbacks):
    from payouts.roles import ensure_group_permissions
    from payouts.services.runs import payout_run_compute
    from payouts.services.settlement import payout_run_approve, payout_run_mark_paid
    from tests.payouts.factories import MONTH, member, paying_program

    starter = UserFactory(username="starter", groups=["Finance approvers"])
    approver = UserFactory(username="approver", groups=["Finance approvers"])
    ensure_group_permissions()
    program = paying_program()
    partner = member(program, handle="maya", views=1_000_000)
    user = make_creator(partner=partner, email="maya@example.org")
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=starter)
    with django_capture_on_commit_callbacks(execute=True):
        payout_run_approve(run_id=run.pk, actor=approver)
    [ready] = smtp.to(user.email)
    assert ready["Subject"] == f"[Creator Partnerships] Your statement is ready: {program.name}, August 2026"
    assert "http://127.0.0.1:8000/creators/earnings/" in smtp.text(ready)
    with django_capture_on_commit_callbacks(execute=True):
        payout_run_mark_paid(run_id=run.pk, actor=approver, reference="BATCH-1")
    paid = smtp.to(user.email)[-1]
    assert paid["Subject"] == f"[Creator Partnerships] Payment sent: {program.name}, August 2026"
    assert len(smtp.to(user.email)) == 2


@pytest.mark.django_db
def test_a_run_paid_through_a_batch_sends_no_second_payment_mail(smtp, django_capture_on_commit_callbacks):
    """The batch's release told the partner "payment sent"; the run becoming paid when the bank statement settles its
    payments does not tell it again (a run paid by hand still does: the test above)."""
    from payouts.models import Payment, PaymentBatch, PaymentItem, PayoutRun
    from payouts.roles import ensure_group_permissions
    from payouts.services.runs import payout_run_compute
    from payouts.services.settlement import payout_run_approve
    from tests.payouts.factories import MONTH, member, paying_program

    starter = UserFactory(username="starter", groups=["Finance approvers"])
    approver = UserFactory(username="approver", groups=["Finance approvers"])
    ensure_group_permissions()
    program = paying_program()
    user = make_creator(partner=member(program, handle="maya", views=1_000_000), email="maya@example.org")
    run = payout_run_compute(program_id=program.pk, month=MONTH, actor=starter)
    with django_capture_on_commit_callbacks(execute=True):
        payout_run_approve(run_id=run.pk, actor=approver)
    line = run.lines.get()
    batch = PaymentBatch.objects.create(currency=run.currency, rail="csv", created_by=starter)
    payment = Payment.objects.create(batch=batch, partner=line.partner, currency=run.currency,
                                     amount_minor=line.net_minor, end_to_end_id="E2E-MAYA", status=Payment.Status.PAID)
    PaymentItem.objects.create(payment=payment, line=line, run=run, program=program, partner=line.partner,
                               amount_minor=line.net_minor)
    # What payouts.services.statements does once every payment of the run is settled
    run.status = PayoutRun.Status.PAID
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run.save(update_fields=["status"])
    assert callbacks, "the run's paid event was queued"
    assert [m["Subject"] for m in smtp.to(user.email)] == [
        f"[Creator Partnerships] Your statement is ready: {program.name}, August 2026"]


@pytest.mark.django_db
def test_emails_in_the_users_language(smtp, creator, manager, django_capture_on_commit_callbacks):
    NotificationPreference.objects.create(user=creator, language="es")
    enrolment = enrolment_submit(partner_id=partner_of(creator).pk, program_id=ProgramFactory(name="Fondo").pk,
                                 actor=creator)
    with django_capture_on_commit_callbacks(execute=True):
        enrolment_approve(enrolment_id=enrolment.pk, actor=manager)
    [message] = smtp.to(creator.email)
    assert message["Subject"] == "[Creator Partnerships] Tu solicitud a Fondo: Aprobada"
    assert "Consúltala en tu página de programas" in smtp.text(message)


@pytest.mark.django_db
def test_invitation_about_to_expire_and_expired_are_told_once_however_often_the_sweep_runs(smtp, creator):
    from creators.services.notifications import invitation_deadlines_notify
    from partnerships.marketplace.services import invitations_expire

    partner = partner_of(creator)
    soon = invite(partner, expires_in=dt.timedelta(hours=3))
    invite(partner, expires_in=dt.timedelta(days=5))  # not yet
    invitation_deadlines_notify()
    invitation_deadlines_notify()
    [reminder] = smtp.to(creator.email)
    assert reminder["Subject"] == f"[Creator Partnerships] Answer soon: {soon.campaign.name}"
    assert f"/creators/invitations/{soon.pk}/" in smtp.text(reminder)
    later = timezone.now() + dt.timedelta(hours=4)
    invitations_expire(now=later)
    invitation_deadlines_notify(now=later)
    invitation_deadlines_notify(now=later)
    assert [message["Subject"] for message in smtp.to(creator.email)][1:] == [
        f"[Creator Partnerships] Invitation expired: {soon.campaign.name}"]
