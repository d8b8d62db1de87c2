"""Reads of the creator portal. Every one starts from the signed-in user's partner: an id of another partner's row
finds nothing (the pages answer 404)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from core.permissions import Actor
from creators import words
from creators.models import CreatorMembership
from partnerships import eligibility
from partnerships.exceptions import ApplicationRefused
from partnerships.models import Enrolment, Invitation, Partner, PartnerStatistics, Program
from partnerships.services.enrolments import enrolment_check_can_apply
from payouts.explain import explain_line
from payouts.models import EarningLine, Payee, PayoutRun, TaxProfile
from payouts.models.batches import Payment

VISIBLE_RUN_STATUSES = (PayoutRun.Status.APPROVED, PayoutRun.Status.PAID)


def user_partner(user) -> Partner | None:
    """The partner the user acts for, or None (staff, brand users and strangers have none)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    membership = CreatorMembership.objects.select_related("partner").filter(user=user).first()
    return membership.partner if membership else None


def user_acts_for_partner(actor: Actor, partner_id: int) -> bool:
    user_id = getattr(actor, "pk", None)
    return user_id is not None and CreatorMembership.objects.filter(user_id=user_id, partner_id=partner_id).exists()


@dataclass
class ProgramView:
    program: Program
    rules: list[eligibility.RuleResult]
    enrolment: Enrolment | None
    refusal: str = ""  # why applying is refused now ("" when the partner may apply)
    can_withdraw: bool = False
    reapply_from: dt.datetime | None = None


def partner_programs(partner: Partner) -> list[ProgramView]:
    """Every program with the partner's eligibility now, rule by rule (the admin's evaluation), the partner's latest
    application and whether they may apply (the service's own check, so the page refuses what it would refuse)."""
    statistics = PartnerStatistics.objects.filter(partner=partner).first()
    latest: dict[int, Enrolment] = {}
    for application in Enrolment.objects.filter(partner=partner).order_by("submitted_at", "pk"):
        latest[application.program_id] = application
    now = timezone.now()
    views = []
    for program in Program.objects.order_by("name"):
        view = ProgramView(program, eligibility.evaluate(partner=partner, statistics=statistics, program=program),
                           latest.get(program.pk))
        try:
            enrolment_check_can_apply(partner=partner, program=program, now=now)
        except ApplicationRefused as exc:
            view.refusal = str(exc)
        if (enrolment := view.enrolment) is not None:
            view.can_withdraw = enrolment.status in (Enrolment.Status.SUBMITTED, Enrolment.Status.APPROVED,
                                                     Enrolment.Status.SUSPENDED)
            if enrolment.status == Enrolment.Status.REJECTED and enrolment.decided_at:
                allowed = enrolment.decided_at + dt.timedelta(days=program.reapply_cooldown_days)
                view.reapply_from = allowed if allowed > now else None
        views.append(view)
    return views


def partner_enrolment(partner: Partner, enrolment_id: int) -> Enrolment | None:
    return Enrolment.objects.filter(partner=partner, pk=enrolment_id).first()


def partner_invitations(partner: Partner) -> QuerySet[Invitation]:
    return (Invitation.objects.filter(partner=partner).select_related("campaign__brand")
            .order_by("-invited_at", "-pk"))


def partner_invitation(partner: Partner, invitation_id: int) -> Invitation | None:
    return partner_invitations(partner).filter(pk=invitation_id).first()


@dataclass
class Month:
    month: dt.date
    lines: list[tuple[PayoutRun, EarningLine, list[str]]] = field(default_factory=list)


def partner_earning_lines(partner: Partner, month: dt.date | None = None) -> QuerySet[EarningLine]:
    """The partner's lines of monthly runs that were approved or paid (a computed run has not passed its second
    pair of eyes: nobody outside finance sees it)."""
    lines = (EarningLine.objects.filter(partner=partner, run__kind=PayoutRun.Kind.FINAL,
                                        run__status__in=VISIBLE_RUN_STATUSES)
             .select_related("run", "run__program", "run__program__terms", "partner")
             .order_by("-run__month", "run__program__name", "pk"))
    return lines.filter(run__month=month) if month else lines


def partner_earnings(partner: Partner) -> list[Month]:
    months: dict[dt.date, Month] = {}
    for line in partner_earning_lines(partner):
        months.setdefault(line.run.month, Month(line.run.month)).lines.append(
            (line.run, line, explain_line(line, line.run)))
    return list(months.values())


def partner_estimates(partner: Partner) -> list[EarningLine]:
    """This month's estimate per program: the partner's line of each program's latest month-to-date run."""
    month = timezone.now().date().replace(day=1)
    lines = (EarningLine.objects.filter(partner=partner, run__kind=PayoutRun.Kind.ESTIMATE, run__month=month)
             .exclude(run__status__in=(PayoutRun.Status.CANCELLED, PayoutRun.Status.FAILED))
             .select_related("run__program").order_by("run__program__name", "-run__started_at"))
    latest: dict[int, EarningLine] = {}
    for line in lines:
        latest.setdefault(line.run.program_id, line)
    return list(latest.values())


def partner_payments(partner, *, limit: int = 200):
    """The partner's own payments, newest first (never another partner's: the filter is the partner)."""
    return list(Payment.objects.filter(partner=partner).order_by("-pk")[:limit])


def partner_payout_details(partner) -> dict:
    """What the creator may see of their own payout and tax details: masked, read-only, in words."""
    payee = Payee.objects.filter(partner=partner).first()
    tax = TaxProfile.objects.filter(partner=partner).first()
    details: dict = {"payee": None, "tax": None}
    if payee is not None:
        now = timezone.now()
        details["payee"] = {
            "rail": str(words.RAILS.get(payee.rail, payee.rail)), "currency": payee.currency,
            "account": payee.masked_account, "blocked": bool(payee.blocked_reason),
            "held_until": payee.hold_until if payee.hold_until and payee.hold_until > now else None}
    if tax is not None:
        details["tax"] = {"form": str(words.TAX_FORMS.get(tax.form_type, tax.form_type)),
                          "status": str(words.TAX_STATUSES.get(tax.status, tax.status)), "expires_on": tax.expires_on}
    return details
