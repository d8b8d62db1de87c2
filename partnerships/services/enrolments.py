"""Applications to programs (enrolments): submit, evaluate eligibility, and decide them along the transition table
(partnerships.transitions), one by one or in bulk."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from partnerships import eligibility
from partnerships.exceptions import (
    ALREADY_LIVE,
    COOLDOWN,
    HARD_RULE_FAILED,
    OVERRIDE_REQUIRED,
    PARTNER_REMOVED,
    PROGRAM_CLOSED,
    ApplicationRefused,
    PartnershipsError,
    TransitionError,
)
from partnerships.models import Enrolment, EnrolmentSuspension, Partner, PartnerStatistics, Program
from partnerships.services.access import acts_for_partner, require_permission, require_reason
from partnerships.services.statistics import partner_statistics_refresh
from partnerships.transitions import DECIDE_PERMISSION, ENROLMENT_TRANSITIONS, enrolment_action_refusal


def _store_eligibility(enrolment: Enrolment) -> None:
    partner_statistics_refresh(partner_ids=[enrolment.partner_id])
    statistics = PartnerStatistics.objects.filter(partner_id=enrolment.partner_id).first()
    rules = eligibility.evaluate(partner=enrolment.partner, statistics=statistics, program=enrolment.program)
    enrolment.eligibility = [rule.as_dict() for rule in rules]
    enrolment.eligibility_passed = all(rule.passed for rule in rules)
    enrolment.eligibility_evaluated_at = timezone.now()


def enrolment_check_can_apply(*, partner: Partner, program: Program, now: dt.datetime) -> None:
    """Raise ApplicationRefused when the partner may not apply to the program now. Read-only, so the
    admin's form can show the same refusal before anything is written."""
    if not program.is_open:
        raise ApplicationRefused(PROGRAM_CLOSED.format(program=program.name))
    if partner.status == Partner.Status.REMOVED:
        raise ApplicationRefused(PARTNER_REMOVED.format(handle=partner.handle))
    live = Enrolment.objects.live().filter(partner=partner, program=program).first()
    if live is not None:
        raise ApplicationRefused(ALREADY_LIVE.format(handle=partner.handle, status=live.status, program=program.name))
    last_rejection = (
        Enrolment.objects.filter(partner=partner, program=program, status=Enrolment.Status.REJECTED)
        .order_by("-decided_at")
        .first()
    )
    if last_rejection is not None and last_rejection.decided_at is not None:
        allowed = last_rejection.decided_at + dt.timedelta(days=program.reapply_cooldown_days)
        if now < allowed:
            raise ApplicationRefused(
                COOLDOWN.format(handle=partner.handle, program=program.name, rejected=last_rejection.decided_at,
                                allowed=allowed, days=program.reapply_cooldown_days)
            )


@transaction.atomic
def enrolment_submit(*, partner_id: int, program_id: int, actor: User | None = None) -> Enrolment:
    """Record an application and evaluate its eligibility. At most one live enrolment per partner and
    program (a database constraint); a rejected partner waits out the program's cool-down."""
    partner = Partner.objects.select_for_update().get(pk=partner_id)
    program = Program.objects.get(pk=program_id)
    now = timezone.now()
    enrolment_check_can_apply(partner=partner, program=program, now=now)
    enrolment = Enrolment(partner=partner, program=program, status=Enrolment.Status.SUBMITTED, submitted_at=now)
    _store_eligibility(enrolment)
    enrolment._history_user = actor  # type: ignore[attr-defined]
    enrolment._change_reason = "Application submitted"  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            enrolment.save()
    except IntegrityError as exc:  # a concurrent submit won the race for the live slot
        raise ApplicationRefused(
            ALREADY_LIVE.format(handle=partner.handle, status="live", program=program.name)
        ) from exc
    return enrolment


@transaction.atomic
def enrolment_evaluate_eligibility(*, enrolment_id: int, actor: User) -> Enrolment:
    """Re-evaluate the rule against today's statistics and store the new snapshot. Only someone who may
    decide may do it: a new snapshot can spare an application the need for an override."""
    require_permission(actor, DECIDE_PERMISSION, "re-evaluate eligibility")
    enrolment = Enrolment.objects.select_for_update().select_related("partner", "program").get(pk=enrolment_id)
    _store_eligibility(enrolment)
    enrolment._history_user = actor  # type: ignore[attr-defined]
    enrolment._change_reason = "Eligibility re-evaluated"  # type: ignore[attr-defined]
    enrolment.save(update_fields=["eligibility", "eligibility_passed", "eligibility_evaluated_at", "updated_at"])
    return enrolment


def _transition(
    *, enrolment_id: int, action: str, actor: User | None, reason: str, override_reason: str = ""
) -> Enrolment:
    transition = ENROLMENT_TRANSITIONS[action]
    # The partner's own people may withdraw the partner's applications (acts_for_partner, checked once the row is
    # read); every other action, and anyone else, needs the staff permission.
    by_partner = action == "withdraw" and actor is not None and not actor.has_perm(transition.permission)
    if not by_partner:
        require_permission(actor, transition.permission, f"{action} applications")
    if transition.reason_required:
        reason = require_reason(reason, f"{action} an application")
    reason = (reason or "").strip()
    # The row lock makes concurrent decisions take turns: the second sees the first one's result. Only
    # rows that never change are joined: after waiting for the lock, PostgreSQL re-reads the locked row
    # but not the other side of an outer join, so a joined decided_by would still show the old (empty) one.
    enrolment = (
        Enrolment.objects.select_for_update(of=("self",)).select_related("partner", "program").get(pk=enrolment_id)
    )
    if by_partner and not acts_for_partner(actor, enrolment.partner_id):
        require_permission(actor, transition.permission, f"{action} applications")
    refusal = enrolment_action_refusal(enrolment, action)
    if refusal:
        raise TransitionError(refusal)
    now = timezone.now()
    fields = ["status", "decided_at", "decided_by", "decision_reason", "updated_at"]
    if action == "approve":
        if enrolment.eligibility_passed is None:
            _store_eligibility(enrolment)
            fields += ["eligibility", "eligibility_passed", "eligibility_evaluated_at"]
        failed = enrolment.failed_rules
        hard = [rule["label"] for rule in failed if rule.get("hard")]
        if hard:
            raise TransitionError(HARD_RULE_FAILED.format(rules=", ".join(hard)))
        override_reason = (override_reason or "").strip()
        if failed and not override_reason:
            raise TransitionError(OVERRIDE_REQUIRED.format(rules=", ".join(rule["label"] for rule in failed)))
        enrolment.eligibility_override_reason = override_reason if failed else ""
        enrolment.approved_at = now
        fields += ["eligibility_override_reason", "approved_at"]
    enrolment.status = transition.target
    enrolment.decided_at, enrolment.decided_by, enrolment.decision_reason = now, actor, reason
    change = f"{transition.done.capitalize()}: {reason}" if reason else transition.done.capitalize()
    if action == "approve" and enrolment.eligibility_override_reason:
        change += f" (eligibility override: {enrolment.eligibility_override_reason})"
    enrolment._history_user = actor  # type: ignore[attr-defined]
    enrolment._change_reason = change  # type: ignore[attr-defined]
    enrolment.save(update_fields=fields)
    _record_suspension_days(enrolment, action, now)
    return enrolment


def _record_suspension_days(enrolment: Enrolment, action: str, now) -> None:
    """Suspending opens a stretch of days that earn nothing, from the day of the suspension in the program's time
    zone; reinstating, ending or withdrawing closes it (the day of reinstatement counts again)."""
    today = now.astimezone(zoneinfo.ZoneInfo(enrolment.program.time_zone)).date()
    if action == "suspend":
        EnrolmentSuspension.objects.create(enrolment=enrolment, starts_on=today)
    elif action in ("reinstate", "end", "withdraw"):
        EnrolmentSuspension.objects.filter(enrolment=enrolment, ends_on__isnull=True).update(ends_on=today)


@transaction.atomic
def enrolment_approve(
    *, enrolment_id: int, actor: User, reason: str = "", override_reason: str = ""
) -> Enrolment:
    """Approve a submitted application. A failing rule needs ``override_reason``; a hard rule
    (minimum age) cannot be overridden."""
    return _transition(enrolment_id=enrolment_id, action="approve", actor=actor, reason=reason,
                       override_reason=override_reason)


class DecisionService(Protocol):
    def __call__(self, *, enrolment_id: int, actor: User, reason: str) -> Enrolment: ...


def _decision(action: str) -> DecisionService:
    """The service of a decision that takes a reason and nothing else: ``_transition`` along the table's row."""

    @transaction.atomic
    def decide(*, enrolment_id: int, actor: User, reason: str) -> Enrolment:
        return _transition(enrolment_id=enrolment_id, action=action, actor=actor, reason=reason)

    decide.__name__ = decide.__qualname__ = f"enrolment_{action}"
    return decide


enrolment_reject = _decision("reject")
enrolment_suspend = _decision("suspend")
enrolment_reinstate = _decision("reinstate")
enrolment_end = _decision("end")


@transaction.atomic
def enrolment_withdraw(*, enrolment_id: int, actor: User, reason: str = "") -> Enrolment:
    """The partner withdraws: one of the partner's own people (creator portal), or staff on their behalf."""
    return _transition(enrolment_id=enrolment_id, action="withdraw", actor=actor, reason=reason)


ENROLMENT_ACTIONS: dict[str, DecisionService] = {
    "approve": enrolment_approve,
    "reject": enrolment_reject,
    "suspend": enrolment_suspend,
    "reinstate": enrolment_reinstate,
    "end": enrolment_end,
    "withdraw": enrolment_withdraw,
}


@dataclass
class BulkReport:
    done: list[Enrolment] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def enrolments_decide(
    *, enrolment_ids: Iterable[int], action: str, actor: User, reason: str, override_reason: str = ""
) -> BulkReport:
    """Apply one action to many applications, each in its own transaction, and report per row what was
    done and what was skipped and why. A refusal of one row never undoes or blocks the others.
    Permission and a required reason are checked once, up front: without them nothing is attempted."""
    transition = ENROLMENT_TRANSITIONS[action]
    require_permission(actor, transition.permission, f"{action} applications")
    if transition.reason_required:
        require_reason(reason, f"{action} applications")
    report = BulkReport()
    service = ENROLMENT_ACTIONS[action]
    for enrolment_id in sorted(set(enrolment_ids)):
        try:
            if action == "approve":  # the one decision that takes an override reason
                done = enrolment_approve(enrolment_id=enrolment_id, actor=actor, reason=reason,
                                         override_reason=override_reason)
            else:
                done = service(enrolment_id=enrolment_id, actor=actor, reason=reason)
            report.done.append(done)
        except PartnershipsError as exc:
            report.skipped.append((enrolment_id, str(exc)))
    return report
