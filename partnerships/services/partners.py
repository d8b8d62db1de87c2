"""A partner's standing (suspend, reinstate) and finance's payout readiness checks."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from partnerships.exceptions import PARTNER_ALREADY_STATUS, PARTNER_NOT_SUSPENDED, TransitionError
from partnerships.models import Partner
from partnerships.services.access import require_permission, require_reason

SUSPEND_PERMISSION = "partnerships.suspend_partner"
PAYOUT_READINESS_PERMISSION = "partnerships.change_payout_readiness"


def _partner_set_status(*, partner_id: int, actor: User, reason: str, target: str, action: str) -> Partner:
    require_permission(actor, SUSPEND_PERMISSION, f"{action} partners")
    reason = require_reason(reason, f"{action} a partner")
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
def partner_suspend(*, partner_id: int, actor: User, reason: str) -> Partner:
    """Suspend a partner: programs that require good standing stop treating them as eligible."""
    return _partner_set_status(partner_id=partner_id, actor=actor, reason=reason,
                               target=Partner.Status.SUSPENDED, action="suspend")


@transaction.atomic
def partner_set_payout_readiness(*, partner_id: int, actor: User, tax_form_on_file: bool,
                                 identity_verified: bool, reason: str) -> Partner:
    """Record finance's checks of a partner: tax form on file, identity verified. A run holds a partner's lines
    until both are true, so they are set only by someone with the permission (finance, never partnership
    managers), with a reason, and the partner's history keeps who, when and why."""
    require_permission(actor, PAYOUT_READINESS_PERMISSION, "change a partner's payout readiness")
    reason = require_reason(reason, "change a partner's payout readiness")
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
def partner_reinstate(*, partner_id: int, actor: User, reason: str) -> Partner:
    return _partner_set_status(partner_id=partner_id, actor=actor, reason=reason,
                               target=Partner.Status.ACTIVE, action="reinstate")
