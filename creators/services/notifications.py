"""E-mail notifications: one function per event that finds its recipients, and ``notification_send``, which sends
one event's e-mail to one recipient at most once.

"At most once" is a row: ``Notification`` is unique per (event key, user) — per (event key, address) for a claim
link, which has no user yet. Sending takes that row's lock, sends, and marks it sent in the same transaction, so
a task that runs twice (a retry, a re-delivered message, two workers) finds it sent and sends nothing; an e-mail
that failed rolls the row back and the retry sends it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from creators import words
from creators.models import ClaimInvitation, CreatorMembership, Notification, NotificationPreference
from partnerships.models import BrandMembership, Enrolment, Invitation
from payouts.models import EarningLine, Payee, Payment, PayoutRun

ALWAYS_SENT = {Notification.Kind.CLAIM, Notification.Kind.SECURITY}  # not the person's choice
TURNED_OFF = "turned off in the recipient's notification preferences"


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def render_email(template: str, context: dict[str, Any], to: str) -> EmailMultiAlternatives:
    """templates/creators/email/<template>_subject.txt, .txt and .html, as one message with both bodies."""
    subject = " ".join(render_to_string(f"creators/email/{template}_subject.txt", context).split())
    text = render_to_string(f"creators/email/{template}.txt", context)
    html = render_to_string(f"creators/email/{template}.html", context)
    message = EmailMultiAlternatives(settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, text,
                                     settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    return message


def notification_send(*, event_key: str, kind: str, email: str, template: str, context: dict[str, Any],
                      user: User | None = None) -> Notification:
    """Send one event's e-mail to one recipient, unless it was sent already or the user turned this kind off."""
    lookup: dict[str, Any] = {"event_key": event_key, "user": user} if user else {
        "event_key": event_key, "user": None, "email": email}
    with transaction.atomic():
        Notification.objects.get_or_create(**lookup, defaults={"kind": kind, "email": email})
        notification = Notification.objects.select_for_update().get(**lookup)
        if notification.sent_at is not None or notification.skipped_reason:
            return notification
        preference = NotificationPreference.objects.filter(user=user).first() if user is not None else None
        if kind not in ALWAYS_SENT and preference is not None and not preference.allows(kind):
            notification.skipped_reason = TURNED_OFF
            notification.save(update_fields=["skipped_reason"])
            return notification
        with translation.override((preference.language if preference else "") or settings.LANGUAGE_CODE):
            message = render_email(template, {**context, "recipient": user, "site_url": settings.SITE_URL}, email)
        message.send()
        notification.sent_at, notification.subject = timezone.now(), message.subject[:200]
        notification.save(update_fields=["sent_at", "subject"])
    return notification


def _partner_users(partner_id: int) -> list[User]:
    return [membership.user for membership in CreatorMembership.objects.filter(
        partner_id=partner_id, user__is_active=True).select_related("user").order_by("pk") if membership.user.email]


def claim_link_send(*, claim_id: int, token: str) -> Notification:
    claim = ClaimInvitation.objects.select_related("partner").get(pk=claim_id)
    return notification_send(
        event_key=f"claim:{claim.pk}", kind=Notification.Kind.CLAIM, email=claim.email, template="claim",
        context={"partner": claim.partner, "link": absolute(f"/creators/claim/{token}/"),
                 "expires_at": claim.expires_at})


def application_decided_notify(*, enrolment_id: int, event_key: str) -> list[Notification]:
    enrolment = Enrolment.objects.select_related("partner", "program").get(pk=enrolment_id)
    context = {"enrolment": enrolment, "program": enrolment.program, "partner": enrolment.partner,
               "status": words.STATUSES.get(enrolment.status, enrolment.status),  # translated when rendered
               "link": absolute("/creators/programs/")}
    return [notification_send(event_key=event_key, kind=Notification.Kind.APPLICATION_DECIDED, email=user.email,
                              user=user, template="application_decided", context=context)
            for user in _partner_users(enrolment.partner_id)]


def invitation_received_notify(*, invitation_id: int) -> list[Notification]:
    invitation = Invitation.objects.select_related("campaign__brand", "partner").get(pk=invitation_id)
    context = {"invitation": invitation, "campaign": invitation.campaign, "brand": invitation.campaign.brand,
               "fee": words.lazy_money(invitation.offered_fee_minor, invitation.currency),
               "link": absolute(f"/creators/invitations/{invitation.pk}/")}
    return [notification_send(event_key=f"invitation:{invitation.pk}:received",
                              kind=Notification.Kind.INVITATION_RECEIVED, email=user.email, user=user,
                              template="invitation_received", context=context)
            for user in _partner_users(invitation.partner_id)]


REMINDER_BEFORE = dt.timedelta(hours=24)
EXPIRED_LOOKBACK = dt.timedelta(days=2)  # how far back the hourly sweep looks for expiries it has not told


def invitation_deadlines_notify(*, now: dt.datetime | None = None) -> int:
    """The hourly sweep: an invitation still unanswered within a day of its answer-by date is about to expire; one
    that expired recently has expired. Each is told once per invitation and user (the event keys), however often
    the sweep runs. Returns how many notifications it looked at."""
    now = now or timezone.now()
    count = 0
    due = Invitation.objects.filter(status=Invitation.Status.INVITED, expires_at__gt=now,
                                    expires_at__lte=now + REMINDER_BEFORE)
    expired = Invitation.objects.filter(Q(status=Invitation.Status.EXPIRED, responded_at__gte=now - EXPIRED_LOOKBACK)
                                        | Q(status=Invitation.Status.INVITED, expires_at__lte=now,
                                            expires_at__gte=now - EXPIRED_LOOKBACK))
    for event, invitations in (("reminder", due), ("expired", expired)):
        for invitation in invitations.select_related("campaign__brand", "partner").order_by("pk")[:10_000]:
            context = {"invitation": invitation, "campaign": invitation.campaign, "brand": invitation.campaign.brand,
                       "expired": event == "expired", "link": absolute(f"/creators/invitations/{invitation.pk}/")}
            for user in _partner_users(invitation.partner_id):
                notification_send(event_key=f"invitation:{invitation.pk}:{event}",
                                  kind=Notification.Kind.INVITATION_RECEIVED, email=user.email, user=user,
                                  template="invitation_deadline", context=context)
                count += 1
    return count


def invitation_answered_notify(*, invitation_id: int) -> list[Notification]:
    """The brand hears the creator's answer: every member of the campaign's brand with an e-mail address."""
    invitation = Invitation.objects.select_related("campaign__brand", "partner").get(pk=invitation_id)
    users = [membership.user for membership in BrandMembership.objects.filter(
        brand_id=invitation.campaign.brand_id, user__is_active=True).select_related("user").order_by("pk")
        if membership.user.email]
    context = {"invitation": invitation, "campaign": invitation.campaign, "partner": invitation.partner,
               "link": absolute(f"/brands/campaigns/{invitation.campaign_id}/")}
    return [notification_send(event_key=f"invitation:{invitation.pk}:{invitation.status}",
                              kind=Notification.Kind.INVITATION_ANSWERED, email=user.email, user=user,
                              template="invitation_answered", context=context)
            for user in users]


def security_notice_send(*, user_id: int, event_key: str, what: str) -> Notification | None:
    """A change to the account (password set or reset): always sent, whatever the preferences say."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return None
    return notification_send(event_key=event_key, kind=Notification.Kind.SECURITY, email=user.email, user=user,
                             template="security", context={"what": what, "link": absolute("/creators/")})


PAYOUT_DETAILS_CHANGED = _("The bank details your payments go to were changed. Payments are held until "
                           "{until}, unless your partnership manager confirms the change.")
PAYOUT_DETAILS_BLOCKED = _("A payment to your bank account came back and payments to it are stopped until the "
                           "details are corrected. Contact your partnership manager.")


def payout_details_notify(*, history_id: int) -> list[Notification]:
    """A version of a partner's bank details that changed the account (or blocked it after a returned payment): a
    security notice to every user of the partner, once per version and user. The first details set and other
    versions (a confirmation, the same account re-saved) tell nobody."""
    version = Payee.history.filter(history_id=history_id).first()
    if version is None or version.history_type != "~":
        return []
    previous = version.prev_record
    if previous is None:
        return []
    if version.changed_at is not None and version.changed_at != previous.changed_at:
        what: Any = format_lazy(PAYOUT_DETAILS_CHANGED, until=words.lazy_date(version.hold_until))
    elif version.blocked_reason and version.blocked_reason != previous.blocked_reason:
        what = PAYOUT_DETAILS_BLOCKED
    else:
        return []
    return [notification_send(event_key=f"payee:{version.id}:version:{version.history_id}",
                              kind=Notification.Kind.SECURITY, email=user.email, user=user, template="security",
                              context={"what": what, "link": absolute("/creators/profile/")})
            for user in _partner_users(version.partner_id)]


def payments_notify(*, source: str, source_id: int) -> list[Notification]:
    """A released batch's payments were sent; a statement's returned payments came back. Every user of each paid
    partner is told once per payment and status (the event key), however often the task runs. Only the payments of
    partners with a creator account are read, a page at a time with their users in one query per page: a batch of a
    million payments where a few thousand partners have accounts costs a few thousand rows, not a million queries."""
    if source == "batch":
        payments = Payment.objects.filter(batch_id=source_id, status=Payment.Status.SENT)
    else:
        payments = Payment.objects.filter(returned_statement_id=source_id, status=Payment.Status.RETURNED)
    told = payments.filter(partner_id__in=CreatorMembership.objects.filter(user__is_active=True).values("partner_id"))
    sent: list[Notification] = []
    page: list[Payment] = []
    for payment in told.order_by("pk").iterator(chunk_size=PAGE):
        page.append(payment)
        if len(page) == PAGE:
            sent += _tell_payments(page)
            page = []
    return sent + _tell_payments(page)


PAGE = 2_000


def _tell_payments(payments: list[Payment]) -> list[Notification]:
    users: dict[int, list[User]] = {}
    for membership in (CreatorMembership.objects.filter(partner_id__in={p.partner_id for p in payments},
                                                        user__is_active=True).select_related("user").order_by("pk")):
        if membership.user.email:
            users.setdefault(membership.partner_id, []).append(membership.user)
    sent = []
    for payment in payments:
        returned = payment.status == Payment.Status.RETURNED
        context = {"payment": payment, "returned": returned, "reason": payment.reason,
                   "amount": words.lazy_money(payment.amount_minor, payment.currency),
                   "link": absolute("/creators/earnings/")}
        sent += [notification_send(event_key=f"payment:{payment.pk}:{payment.status}",
                                   kind=Notification.Kind.STATEMENTS, email=user.email, user=user,
                                   template="payment", context=context)
                 for user in users.get(payment.partner_id, [])]
    return sent


def email_send(*, to: str, subject: str, text: str, html: str = "") -> None:
    """An e-mail already rendered (django-allauth's password reset and verification messages)."""
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


def run_event_notify(*, run_id: int, status: str) -> list[Notification]:
    """A monthly run approved (the statement is ready) or paid (the payment is sent): every user of each partner with a
    line in it, once per run, event and user. Lines paid through a payment batch get no run-level "payment sent": the
    payment's own notices cover them."""
    run = PayoutRun.objects.select_related("program").get(pk=run_id)
    told = EarningLine.objects.filter(run=run, partner__creator_memberships__isnull=False).distinct()
    if status == PayoutRun.Status.PAID:
        # A line paid through a payment batch was told when its payment was sent (and is told if it comes back):
        # the run becoming paid is no second "payment sent" for it.
        told = told.exclude(payment_item__isnull=False)
    lines = {line.partner_id: line for line in told}
    sent = []
    for membership in (CreatorMembership.objects.filter(partner_id__in=lines, user__is_active=True)
                       .select_related("user").order_by("pk")):
        user, line = membership.user, lines[membership.partner_id]
        if not user.email:
            continue
        context = {"run": run, "program": run.program, "line": line, "paid": status == PayoutRun.Status.PAID,
                   "net": words.lazy_money(line.net_minor, run.currency), "link": absolute("/creators/earnings/")}
        sent.append(notification_send(event_key=f"run:{run.pk}:{status}", kind=Notification.Kind.STATEMENTS,
                                      email=user.email, user=user, template="statement", context=context))
    return sent
