"""Thin Celery tasks of the creator portal: ids in, one service call. Each notification is sent at most once per
event and recipient by the service (creators.services.notifications), so a task that runs twice is harmless."""

from celery import shared_task
from django.db import OperationalError

from core.tasks import RETRY
from creators.services import notifications

# As every task (core.tasks.RETRY), and an SMTP server briefly unreachable too.
MAIL_RETRY = {**RETRY, "autoretry_for": (OperationalError, OSError)}


@shared_task(name="creators.send_claim_link", **MAIL_RETRY)
def send_claim_link_task(claim_id: int, token: str) -> None:
    notifications.claim_link_send(claim_id=claim_id, token=token)


@shared_task(name="creators.notify_application_decided", **MAIL_RETRY)
def notify_application_decided_task(enrolment_id: int, event_key: str) -> None:
    notifications.application_decided_notify(enrolment_id=enrolment_id, event_key=event_key)


@shared_task(name="creators.notify_invitation_received", **MAIL_RETRY)
def notify_invitation_received_task(invitation_id: int) -> None:
    notifications.invitation_received_notify(invitation_id=invitation_id)


@shared_task(name="creators.notify_invitation_answered", **MAIL_RETRY)
def notify_invitation_answered_task(invitation_id: int) -> None:
    notifications.invitation_answered_notify(invitation_id=invitation_id)


@shared_task(name="creators.security_notice", **MAIL_RETRY)
def security_notice_task(user_id: int, event_key: str, what: str) -> None:
    notifications.security_notice_send(user_id=user_id, event_key=event_key, what=what)


@shared_task(name="creators.payout_details_notice", **MAIL_RETRY)
def payout_details_notice_task(history_id: int) -> None:
    notifications.payout_details_notify(history_id=history_id)


@shared_task(name="creators.notify_payments", **MAIL_RETRY)
def notify_payments_task(source: str, source_id: int) -> None:
    notifications.payments_notify(source=source, source_id=source_id)


@shared_task(name="creators.send_email", **MAIL_RETRY)
def send_email_task(to: str, subject: str, text: str, html: str = "") -> None:
    notifications.email_send(to=to, subject=subject, text=text, html=html)


@shared_task(name="creators.notify_run_event", **MAIL_RETRY)
def notify_run_event_task(run_id: int, status: str) -> None:
    notifications.run_event_notify(run_id=run_id, status=status)


@shared_task(name="creators.notify_invitation_deadlines", **MAIL_RETRY)
def notify_invitation_deadlines_task() -> int:
    return notifications.invitation_deadlines_notify()
