"""Every write of the partnerships app.

Each public function is one action: it runs in a transaction, locks the rows it changes, checks the
acting user's permission, records who/when/why in the object's history, and changes nothing when it
refuses. The admin, management commands and Celery tasks all call these functions.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import permissions
from partnerships import eligibility
from partnerships.exceptions import (
    ALREADY_DECIDED,
    ALREADY_LIVE,
    CANNOT_TRANSITION,
    COOLDOWN,
    HARD_RULE_FAILED,
    OVERRIDE_REQUIRED,
    PARTNER_ALREADY_STATUS,
    PARTNER_NOT_SUSPENDED,
    PARTNER_REMOVED,
    PROGRAM_CLOSED,
    ApplicationRefused,
    NotPermitted,
    PartnershipsError,
    ReasonRequired,
    TransitionError,
)
from partnerships.models import DailyMetric, Enrolment, EnrolmentSuspension, Partner, PartnerStatistics, Program

DECIDE_PERMISSION = "partnerships.decide_enrolment"
WITHDRAW_PERMISSION = "partnerships.change_enrolment"
SUSPEND_PERMISSION = "partnerships.suspend_partner"
PAYOUT_READINESS_PERMISSION = "partnerships.change_payout_readiness"
STATISTICS_WINDOW_DAYS = 30


def _require_permission(actor: AbstractBaseUser | None, permission: str, action: str) -> None:
    permissions.require_permission(actor, permission, action, error=NotPermitted)


def _require_reason(reason: str, action: str) -> str:
    return permissions.require_reason(reason, action, error=ReasonRequired)


# --- statistics ---------------------------------------------------------------------------------

def partner_statistics_refresh(*, as_of: dt.date | None = None, partner_ids: Iterable[int] | None = None) -> int:
    """Recompute the 30-day roll-up from DailyMetric in two set-based statements.

    Invariant: afterwards every partner in scope that has metrics in the window has exactly the sums of
    its window's rows; a partner whose window is now empty keeps its last follower count and has zero
    activity. Returns the number of partners with activity in the window."""
    as_of = as_of or timezone.localdate()
    start = as_of - dt.timedelta(days=STATISTICS_WINDOW_DAYS - 1)
    now = timezone.now()
    ops = connection.ops
    params = {
        "as_of": ops.adapt_datefield_value(as_of),
        "start": ops.adapt_datefield_value(start),
        "now": ops.adapt_datetimefield_value(now),
    }
    scope_metrics, scope_stats = "", ""
    if partner_ids is not None:
        ids = sorted({int(pk) for pk in partner_ids})
        if not ids:
            return 0
        placeholders = ", ".join(f"%(p{i})s" for i in range(len(ids)))
        params.update({f"p{i}": pk for i, pk in enumerate(ids)})
        scope_metrics = f"AND m.partner_id IN ({placeholders})"
        scope_stats = f"AND s.partner_id IN ({placeholders})"

    postgres = connection.vendor == "postgresql"
    per_post = "div(SUM(m.views), SUM(m.posts))" if postgres else "SUM(m.views) / SUM(m.posts)"
    metric, stats = DailyMetric._meta.db_table, PartnerStatistics._meta.db_table
    latest_followers = (
        f"(SELECT f.followers FROM {metric} f WHERE f.partner_id = {{alias}}.partner_id "
        f"AND f.day <= %(as_of)s ORDER BY f.day DESC LIMIT 1)"
    )
    upsert = f"""
        INSERT INTO {stats} (partner_id, as_of, followers, views_30d, qualified_views_30d, likes_30d,
                             comments_30d, shares_30d, posts_30d, avg_views_per_post, engagement_rate,
                             refreshed_at)
        SELECT m.partner_id, %(as_of)s, COALESCE({latest_followers.format(alias="m")}, 0),
               SUM(m.views), SUM(m.qualified_views), SUM(m.likes), SUM(m.comments), SUM(m.shares),
               SUM(m.posts),
               CASE WHEN SUM(m.posts) > 0 THEN {per_post} ELSE 0 END,
               CASE WHEN SUM(m.views) > 0
                    THEN ROUND(100.0 * (SUM(m.likes) + SUM(m.comments) + SUM(m.shares)) / SUM(m.views), 2)
                    ELSE 0 END,
               %(now)s
        FROM {metric} m
        WHERE m.day >= %(start)s AND m.day <= %(as_of)s {scope_metrics}
        GROUP BY m.partner_id
        ON CONFLICT (partner_id) DO UPDATE SET
            as_of = excluded.as_of, followers = excluded.followers, views_30d = excluded.views_30d,
            qualified_views_30d = excluded.qualified_views_30d, likes_30d = excluded.likes_30d,
            comments_30d = excluded.comments_30d, shares_30d = excluded.shares_30d,
            posts_30d = excluded.posts_30d, avg_views_per_post = excluded.avg_views_per_post,
            engagement_rate = excluded.engagement_rate, refreshed_at = excluded.refreshed_at
    """
    # Rows this refresh did not touch have no activity in the window any more.
    clear_idle = f"""
        UPDATE {stats} SET as_of = %(as_of)s, refreshed_at = %(now)s,
            followers = COALESCE({latest_followers.format(alias=stats)}, followers),
            views_30d = 0, qualified_views_30d = 0, likes_30d = 0, comments_30d = 0, shares_30d = 0,
            posts_30d = 0, avg_views_per_post = 0, engagement_rate = 0
        WHERE refreshed_at <> %(now)s {scope_stats.replace("s.partner_id", f"{stats}.partner_id")}
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            # Two refreshes at once would upsert the same rows in different orders; take turns instead.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('partner_statistics_refresh'))")
        cursor.execute(upsert, params)
        refreshed = cursor.rowcount
        cursor.execute(clear_idle, params)
    return refreshed


# --- enrolments ---------------------------------------------------------------------------------

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
def enrolment_submit(*, partner_id: int, program_id: int, actor: AbstractBaseUser | None = None) -> Enrolment:
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
def enrolment_evaluate_eligibility(*, enrolment_id: int, actor: AbstractBaseUser) -> Enrolment:
    """Re-evaluate the rule against today's statistics and store the new snapshot. Only someone who may
    decide may do it: a new snapshot can spare an application the need for an override."""
    _require_permission(actor, DECIDE_PERMISSION, "re-evaluate eligibility")
    enrolment = Enrolment.objects.select_for_update().select_related("partner", "program").get(pk=enrolment_id)
    _store_eligibility(enrolment)
    enrolment._history_user = actor  # type: ignore[attr-defined]
    enrolment._change_reason = "Eligibility re-evaluated"  # type: ignore[attr-defined]
    enrolment.save(update_fields=["eligibility", "eligibility_passed", "eligibility_evaluated_at", "updated_at"])
    return enrolment


@dataclass(frozen=True)
class Transition:
    action: str
    done: str
    sources: tuple[str, ...]
    target: str
    permission: str
    reason_required: bool


S = Enrolment.Status
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("approve", "approved", (S.SUBMITTED,), S.APPROVED, DECIDE_PERMISSION, False),
        Transition("reject", "rejected", (S.SUBMITTED,), S.REJECTED, DECIDE_PERMISSION, True),
        Transition("suspend", "suspended", (S.APPROVED,), S.SUSPENDED, DECIDE_PERMISSION, True),
        Transition("reinstate", "reinstated", (S.SUSPENDED,), S.APPROVED, DECIDE_PERMISSION, True),
        Transition("end", "ended", (S.APPROVED, S.SUSPENDED), S.ENDED, DECIDE_PERMISSION, True),
        Transition("withdraw", "withdrawn", (S.SUBMITTED, S.APPROVED, S.SUSPENDED), S.WITHDRAWN,
                   WITHDRAW_PERMISSION, False),
    )
}


def _transition(
    *, enrolment_id: int, action: str, actor: AbstractBaseUser | None, reason: str, override_reason: str = ""
) -> Enrolment:
    transition = TRANSITIONS[action]
    _require_permission(actor, transition.permission, f"{action} applications")
    if transition.reason_required:
        reason = _require_reason(reason, f"{action} an application")
    reason = (reason or "").strip()
    # The row lock makes concurrent decisions take turns: the second sees the first one's result. Only
    # rows that never change are joined: after waiting for the lock, PostgreSQL re-reads the locked row
    # but not the other side of an outer join, so a joined decided_by would still show the old (empty) one.
    enrolment = (
        Enrolment.objects.select_for_update(of=("self",)).select_related("partner", "program").get(pk=enrolment_id)
    )
    if enrolment.status not in transition.sources:
        if enrolment.decided_by is not None and enrolment.decided_at is not None:
            raise TransitionError(
                ALREADY_DECIDED.format(status=enrolment.status, who=enrolment.decided_by, when=enrolment.decided_at)
                + " "
                + CANNOT_TRANSITION.format(action=action, status=enrolment.status,
                                           allowed=" or ".join(transition.sources), done=transition.done)
            )
        raise TransitionError(
            CANNOT_TRANSITION.format(action=action, status=enrolment.status,
                                     allowed=" or ".join(transition.sources), done=transition.done)
        )
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
    *, enrolment_id: int, actor: AbstractBaseUser, reason: str = "", override_reason: str = ""
) -> Enrolment:
    """Approve a submitted application. A failing rule needs ``override_reason``; a hard rule
    (minimum age) cannot be overridden."""
    return _transition(enrolment_id=enrolment_id, action="approve", actor=actor, reason=reason,
                       override_reason=override_reason)


@transaction.atomic
def enrolment_reject(*, enrolment_id: int, actor: AbstractBaseUser, reason: str) -> Enrolment:
    return _transition(enrolment_id=enrolment_id, action="reject", actor=actor, reason=reason)


@transaction.atomic
def enrolment_suspend(*, enrolment_id: int, actor: AbstractBaseUser, reason: str) -> Enrolment:
    return _transition(enrolment_id=enrolment_id, action="suspend", actor=actor, reason=reason)


@transaction.atomic
def enrolment_reinstate(*, enrolment_id: int, actor: AbstractBaseUser, reason: str) -> Enrolment:
    return _transition(enrolment_id=enrolment_id, action="reinstate", actor=actor, reason=reason)


@transaction.atomic
def enrolment_end(*, enrolment_id: int, actor: AbstractBaseUser, reason: str) -> Enrolment:
    return _transition(enrolment_id=enrolment_id, action="end", actor=actor, reason=reason)


@transaction.atomic
def enrolment_withdraw(*, enrolment_id: int, actor: AbstractBaseUser, reason: str = "") -> Enrolment:
    """The partner withdraws (a staff member records it on their behalf)."""
    return _transition(enrolment_id=enrolment_id, action="withdraw", actor=actor, reason=reason)


ENROLMENT_ACTIONS = {
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
    *, enrolment_ids: Iterable[int], action: str, actor: AbstractBaseUser, reason: str, override_reason: str = ""
) -> BulkReport:
    """Apply one action to many applications, each in its own transaction, and report per row what was
    done and what was skipped and why. A refusal of one row never undoes or blocks the others.
    Permission and a required reason are checked once, up front: without them nothing is attempted."""
    transition = TRANSITIONS[action]
    _require_permission(actor, transition.permission, f"{action} applications")
    if transition.reason_required:
        _require_reason(reason, f"{action} applications")
    report = BulkReport()
    service = ENROLMENT_ACTIONS[action]
    for enrolment_id in sorted(set(enrolment_ids)):
        kwargs = {"enrolment_id": enrolment_id, "actor": actor, "reason": reason}
        if action == "approve":
            kwargs["override_reason"] = override_reason
        try:
            report.done.append(service(**kwargs))
        except PartnershipsError as exc:
            report.skipped.append((enrolment_id, str(exc)))
    return report


# --- partners -----------------------------------------------------------------------------------

def _partner_set_status(*, partner_id: int, actor: AbstractBaseUser, reason: str, target: str, action: str) -> Partner:
    _require_permission(actor, SUSPEND_PERMISSION, f"{action} partners")
    reason = _require_reason(reason, f"{action} a partner")
    partner = Partner.objects.select_for_update().get(pk=partner_id)
    if partner.status == target or partner.status == Partner.Status.REMOVED:
        raise TransitionError(PARTNER_ALREADY_STATUS.format(handle=partner.handle, status=partner.status))
    if action == "reinstate" and partner.status != Partner.Status.SUSPENDED:
        raise TransitionError(PARTNER_NOT_SUSPENDED.format(handle=partner.handle, status=partner.status))
    partner.status, partner.status_reason = target, reason
    partner.status_changed_by, partner.status_changed_at = actor, timezone.now()
    partner._history_user = actor  # type: ignore[attr-defined]
    partner._change_reason = f"{action.capitalize()}: {reason}"  # type: ignore[attr-defined]
    partner.save(update_fields=["status", "status_reason", "status_changed_by", "status_changed_at", "updated_at"])
    return partner


@transaction.atomic
def partner_suspend(*, partner_id: int, actor: AbstractBaseUser, reason: str) -> Partner:
    """Suspend a partner: programs that require good standing stop treating them as eligible."""
    return _partner_set_status(partner_id=partner_id, actor=actor, reason=reason,
                               target=Partner.Status.SUSPENDED, action="suspend")


@transaction.atomic
def partner_set_payout_readiness(*, partner_id: int, actor: AbstractBaseUser, tax_form_on_file: bool,
                                 identity_verified: bool, reason: str) -> Partner:
    """Record finance's checks of a partner: tax form on file, identity verified. A run holds a partner's lines
    until both are true, so they are set only by someone with the permission (finance, never partnership
    managers), with a reason, and the partner's history keeps who, when and why."""
    _require_permission(actor, PAYOUT_READINESS_PERMISSION, "change a partner's payout readiness")
    reason = _require_reason(reason, "change a partner's payout readiness")
    partner = Partner.objects.select_for_update().get(pk=partner_id)
    changes = [f"{name} {'yes' if new else 'no'}"
               for name, old, new in (("tax form on file", partner.tax_form_on_file, tax_form_on_file),
                                      ("identity verified", partner.identity_verified, identity_verified))
               if old != new]
    if not changes:
        return partner
    partner.tax_form_on_file, partner.identity_verified = tax_form_on_file, identity_verified
    partner._history_user = actor  # type: ignore[attr-defined]
    partner._change_reason = f"Payout readiness ({', '.join(changes)}): {reason}"  # type: ignore[attr-defined]
    partner.save(update_fields=["tax_form_on_file", "identity_verified", "updated_at"])
    return partner


@transaction.atomic
def partner_reinstate(*, partner_id: int, actor: AbstractBaseUser, reason: str) -> Partner:
    return _partner_set_status(partner_id=partner_id, actor=actor, reason=reason,
                               target=Partner.Status.ACTIVE, action="reinstate")
