"""A partnership manager's review of the lines screening flagged in a computed monthly run: hold one (it is not
paid: its amount stays reserved on the partner's payable balance) or clear it, each with a reason. The decision is
written on every flag of the line, and the flags' history keeps each change; a run with a flag nobody reviewed is not
approved (payouts.services.settlement)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from core.permissions import require_reason
from core.sql import fetchone
from payouts.exceptions import NOT_FLAGGED, SCREENING_CLOSED, RunRefused
from payouts.formulas.tables import LINE_TABLE, PAYABLE
from payouts.models import EarningLine, PayoutRun, ScreeningFlag, ScreeningRules
from payouts.services.guards import require_permission

if TYPE_CHECKING:
    from django.contrib.auth.models import User

REVIEW_PERMISSION = "payouts.review_screeningflag"
HOLD_PREFIX = "screening: "
F = ScreeningFlag.Status


def _review_open(run_id: int, partner_id: int) -> tuple[PayoutRun, EarningLine, list[ScreeningFlag]]:
    run = PayoutRun.objects.select_for_update().get(pk=run_id)
    if run.kind != PayoutRun.Kind.FINAL or run.status != PayoutRun.Status.COMPUTED:
        raise RunRefused(SCREENING_CLOSED.format(run=run, status=run.get_status_display().lower()))
    flags = list(ScreeningFlag.objects.select_for_update().filter(run=run, partner_id=partner_id).order_by("pk"))
    line = EarningLine.objects.select_for_update().filter(run=run, partner_id=partner_id).first()
    if not flags or line is None:
        raise RunRefused(NOT_FLAGGED.format(partner=partner_id, run=run))
    return run, line, flags


def _refresh_payable(run: PayoutRun) -> None:
    run.total_payable_minor = int(fetchone(
        f"SELECT COALESCE(SUM(net_minor), 0) FROM {LINE_TABLE} WHERE run_id = %(run)s AND status = {PAYABLE}",
        {"run": run.pk})[0])
    run.save(update_fields=["total_payable_minor"])


def _decide(flags: list[ScreeningFlag], status: str, actor: User, reason: str) -> None:
    now = timezone.now()
    for flag in flags:  # a line has at most one flag per rule: a handful of rows, each saved for its history
        flag.status, flag.decided_by, flag.decided_at, flag.decision_reason = status, actor, now, reason
        flag._change_reason = f"{flag.get_status_display()} by {actor}: {reason}"  # type: ignore[attr-defined]
        flag.save()


@transaction.atomic
def screening_line_hold(*, run_id: int, partner_id: int, actor: User, reason: str) -> EarningLine:
    """Hold a flagged line of a computed monthly run: it is not paid when the run is approved (its amount stays on
    the partner's payable balance; a later run that carries it in flags it again, payouts.screening, until a manager
    clears it). The line's status before the hold is kept on the flags, so clearing it later gives back exactly what
    settlement had decided."""
    require_permission(actor, REVIEW_PERMISSION, "hold flagged lines")
    reason = require_reason(reason, "hold a flagged line", error=RunRefused)
    run, line, flags = _review_open(run_id, partner_id)
    if not any(flag.status == F.HELD for flag in flags):
        for flag in flags:
            flag.line_status_before, flag.line_hold_reason_before = line.status, line.hold_reason
        line.status = EarningLine.Status.HELD
        line.hold_reason = (HOLD_PREFIX + reason)[:200]
        line.save(update_fields=["status", "hold_reason"])
    _decide(flags, F.HELD, actor, reason)
    _refresh_payable(run)
    return line


@transaction.atomic
def screening_line_clear(*, run_id: int, partner_id: int, actor: User, reason: str) -> EarningLine:
    """Clear a flagged line (the traffic was checked): the run may be approved with it; a line held by screening
    gets back the status settlement had given it."""
    require_permission(actor, REVIEW_PERMISSION, "clear flagged lines")
    reason = require_reason(reason, "clear a flagged line", error=RunRefused)
    run, line, flags = _review_open(run_id, partner_id)
    held = next((flag for flag in flags if flag.status == F.HELD), None)
    if held is not None:
        line.status, line.hold_reason = held.line_status_before, held.line_hold_reason_before
        line.save(update_fields=["status", "hold_reason"])
    _decide(flags, F.CLEARED, actor, reason)
    _refresh_payable(run)
    return line


RULES_PERMISSION = "payouts.change_screeningrules"


@transaction.atomic
def screening_rules_save(*, rules: ScreeningRules, actor: User, reason: str) -> ScreeningRules:
    """Save a program's screening rules (validated by the model's validators) with who and why in their history.
    The new thresholds apply from the next computation of a run; flags already raised stay as they are."""
    require_permission(actor, RULES_PERMISSION, "change screening rules")
    reason = require_reason(reason, "change screening rules", error=RunRefused)
    rules.full_clean()
    rules._change_reason, rules._history_user = reason, actor  # type: ignore[attr-defined]
    rules.save()
    return rules
