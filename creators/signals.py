"""Where the portal hears of events in partnerships (which never imports this app): a decided application, a new
invitation, an answered one, a password changed. Each receiver only queues a notification task once the
transaction commits; the task's service decides whom to write and sends each e-mail at most once."""

from __future__ import annotations

from allauth.account.signals import password_changed, password_reset, password_set
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from core.tasks import enqueue
from partnerships.models import Enrolment, Invitation
from payouts.models import Payee, PaymentBatch, PayoutRun, StatementImport

DECIDED = (Enrolment.Status.APPROVED, Enrolment.Status.REJECTED)
ANSWERED = (Invitation.Status.ACCEPTED, Invitation.Status.DECLINED)


@receiver(post_save, sender=Enrolment, dispatch_uid="creators.application_decided")
def application_decided(sender, instance: Enrolment, created: bool, update_fields=None, **kwargs) -> None:
    if instance.status not in DECIDED or instance.decided_at is None:
        return
    if update_fields is not None and "status" not in update_fields:
        return  # a later save of a decided application (eligibility re-evaluated) is no new decision
    event_key = f"enrolment:{instance.pk}:{instance.status}:{instance.decided_at.isoformat()}"
    transaction.on_commit(lambda: enqueue("creators.notify_application_decided", instance.pk, event_key))


@receiver(post_save, sender=Invitation, dispatch_uid="creators.invitation_events")
def invitation_events(sender, instance: Invitation, created: bool, update_fields=None, **kwargs) -> None:
    if created and instance.status == Invitation.Status.INVITED:
        transaction.on_commit(lambda: enqueue("creators.notify_invitation_received", instance.pk))
    elif instance.status in ANSWERED and (update_fields is None or "status" in update_fields):
        transaction.on_commit(lambda: enqueue("creators.notify_invitation_answered", instance.pk))


@receiver(post_save, sender=PayoutRun, dispatch_uid="creators.run_events")
def run_events(sender, instance: PayoutRun, created: bool, update_fields=None, **kwargs) -> None:
    """A monthly run approved (statements ready) or marked paid (payments sent)."""
    if instance.kind != PayoutRun.Kind.FINAL or instance.status not in (PayoutRun.Status.APPROVED,
                                                                          PayoutRun.Status.PAID):
        return
    if update_fields is not None and "status" not in update_fields:
        return
    run_id, status = instance.pk, instance.status
    transaction.on_commit(lambda: enqueue("creators.notify_run_event", run_id, status))


def _security_notice(user, what: str) -> None:
    event_key = f"security:{user.pk}:{timezone.now().isoformat()}"
    transaction.on_commit(lambda: enqueue("creators.security_notice", user.pk, event_key, what))


@receiver(password_changed, dispatch_uid="creators.password_changed")
def on_password_changed(sender, request, user, **kwargs) -> None:
    _security_notice(user, "Your password was changed.")


@receiver(password_set, dispatch_uid="creators.password_set")
def on_password_set(sender, request, user, **kwargs) -> None:
    _security_notice(user, "A password was set on your account.")


@receiver(password_reset, dispatch_uid="creators.password_reset")
def on_password_reset(sender, request, user, **kwargs) -> None:
    _security_notice(user, "Your password was reset from an e-mailed link.")


@receiver(post_save, sender=Payee.history.model, dispatch_uid="creators.payout_details_events")
def payout_details_events(sender, instance, created: bool, **kwargs) -> None:
    """Each version of a payee's bank details is one event (its history row): a change of account or a block after a
    returned payment queues a security notice to the partner's people; the service decides which versions are."""
    if not created:
        return
    history_id = instance.history_id
    transaction.on_commit(lambda: enqueue("creators.payout_details_notice", history_id))


@receiver(post_save, sender=PaymentBatch, dispatch_uid="creators.batch_released")
def batch_released(sender, instance: PaymentBatch, created: bool, update_fields=None, **kwargs) -> None:
    """A released batch sent its payments (payouts marks them sent in bulk, so the batch is the signal)."""
    if instance.status != PaymentBatch.Status.RELEASED or (update_fields is not None and "status" not in update_fields):
        return
    batch_id = instance.pk
    transaction.on_commit(lambda: enqueue("creators.notify_payments", "batch", batch_id))


@receiver(post_save, sender=StatementImport, dispatch_uid="creators.statement_imported")
def statement_imported(sender, instance: StatementImport, created: bool, update_fields=None, **kwargs) -> None:
    """An imported bank statement settled payments; the ones it returned are told."""
    if update_fields is None or "returned_count" not in update_fields or not instance.returned_count:
        return
    import_id = instance.pk
    transaction.on_commit(lambda: enqueue("creators.notify_payments", "statement", import_id))
