"""Adjustments: a correction recorded by one finance approver, approved or rejected by another (four eyes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from core.money import MAX_MINOR, format_money
from core.permissions import REASON_REQUIRED
from payouts.closing import payout_runs_mark_stale
from payouts.exceptions import (
    ADJUSTMENT_DECIDED,
    ADJUSTMENT_FOUR_EYES,
    ADJUSTMENT_MADE_STALE,
    ADJUSTMENT_ZERO,
    AMOUNT_INVALID,
    RunRefused,
)
from payouts.models import (
    Adjustment,
)
from payouts.services.guards import require_permission

if TYPE_CHECKING:  # the project's user model (AUTH_USER_MODEL is auth.User): the rows the services write point to it
    from django.contrib.auth.models import User

ADJUST_PERMISSION = "payouts.add_adjustment"
APPROVE_ADJUSTMENT_PERMISSION = "payouts.approve_adjustment"


@transaction.atomic
def adjustment_create(*, partner_id: int, program_id: int, amount_minor: int, reason: str,
                      actor: User) -> Adjustment:
    """Record a correction. It waits for a second finance approver (``adjustment_approve``); once approved, the
    partner's next monthly run applies it (a finalised run is never edited)."""
    require_permission(actor, ADJUST_PERMISSION, "record adjustments")
    reason = (reason or "").strip()
    if not reason:
        raise RunRefused(REASON_REQUIRED.format(action="record an adjustment"))
    amount_minor = int(amount_minor)
    if not amount_minor:
        raise RunRefused(ADJUSTMENT_ZERO)
    if abs(amount_minor) > MAX_MINOR:
        raise RunRefused(AMOUNT_INVALID.format(text=str(amount_minor), limit=MAX_MINOR))
    return Adjustment.objects.create(partner_id=partner_id, program_id=program_id, amount_minor=amount_minor,
                                     reason=reason, created_by=actor)


def _adjustment_decide(*, adjustment_id: int, actor: User, approve: bool, reason: str) -> Adjustment:
    require_permission(actor, APPROVE_ADJUSTMENT_PERMISSION, "approve or reject adjustments")
    adjustment = Adjustment.objects.select_for_update().select_related("program").get(pk=adjustment_id)
    if adjustment.status != Adjustment.Status.PENDING:
        raise RunRefused(ADJUSTMENT_DECIDED.format(adjustment=adjustment, status=adjustment.get_status_display()))
    if adjustment.created_by_id == actor.pk:
        raise RunRefused(ADJUSTMENT_FOUR_EYES.format(user=actor))
    adjustment.status = Adjustment.Status.APPROVED if approve else Adjustment.Status.REJECTED
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_reason = actor, timezone.now(), reason
    adjustment.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    if approve:  # the program's computed runs no longer include every approved input
        payout_runs_mark_stale(program_id=adjustment.program_id, reason=ADJUSTMENT_MADE_STALE.format(
            adjustment=adjustment, amount=format_money(adjustment.amount_minor, adjustment.program.currency),
            user=actor))
    return adjustment


@transaction.atomic
def adjustment_approve(*, adjustment_id: int, actor: User, reason: str = "") -> Adjustment:
    """A second finance approver (never its creator) lets an adjustment take effect."""
    return _adjustment_decide(adjustment_id=adjustment_id, actor=actor, approve=True, reason=(reason or "").strip())


@transaction.atomic
def adjustment_reject(*, adjustment_id: int, actor: User, reason: str) -> Adjustment:
    reason = (reason or "").strip()
    if not reason:
        raise RunRefused(REASON_REQUIRED.format(action="reject an adjustment"))
    return _adjustment_decide(adjustment_id=adjustment_id, actor=actor, approve=False, reason=reason)
