"""Writes of a payee's bank details: save (create or change), confirm a change, block after a returned payment.

Invariants kept here, which payouts.payees' payability check (and its SQL form) relies on:

- The first details of a partner set no hold. Changing the account (rail, holder, IBAN, routing or account number)
  records who and when (``changed_by``/``changed_at``), holds payments until ``now + PAYEE_CHANGE_HOLD_DAYS``,
  forgets any earlier confirmation and clears ``blocked_reason`` (the details were fixed).
- Only a second person (not ``changed_by``) holding ``payouts.confirm_payee`` confirms a change; confirming clears
  ``hold_until``, so a confirmed payee never carries a hold.
- Every write is one version in the audit trail (django-simple-history) with the actor and a reason; the history
  table stores the same encrypted columns as the payee table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from partnerships.models import Partner
from payouts.models import Payee
from payouts.payees import ACCOUNT_FIELDS, PayeeInvalid, PayeeRefused, payee_details_clean
from payouts.services.guards import require_permission

if TYPE_CHECKING:  # the project's user model (AUTH_USER_MODEL is auth.User)
    from django.contrib.auth.models import User

# Re-exported for callers of the services: the error of details that do not validate.
__all__ = ["PayeeInvalid", "PayeeRefused", "payee_block", "payee_confirm", "payee_save"]

NO_PAYEE = "Partner {partner} has no bank details yet."
NOTHING_TO_CONFIRM = "The bank details of {partner} have no unconfirmed change."
ALREADY_CONFIRMED = "The change of {partner}'s bank details was already confirmed by {user} on {when:%Y-%m-%d}."
SAME_PERSON = ("{user} made this change of bank details and so cannot confirm it: another person with the "
               "permission to confirm payee changes must.")
UNKNOWN_PARTNER = "There is no partner with id {partner_id}."
REASON_CREATED = "Bank details added."
REASON_CHANGED = "Bank details changed; payments held until {until:%Y-%m-%d} unless a second person confirms."
REASON_UPDATED = "Bank details updated (same account)."
REASON_CONFIRMED = "Change of bank details confirmed; hold lifted."
REASON_BLOCKED = "Blocked: {reason}"


def _history(payee: Payee, actor: User | None, reason: str) -> None:
    payee._history_user = actor  # type: ignore[attr-defined]  # read by django-simple-history
    payee._change_reason = reason  # type: ignore[attr-defined]


@transaction.atomic
def payee_save(*, partner_id: int, data: Mapping[str, object], actor: User, reason: str = "") -> Payee:
    """Create or change ``partner_id``'s bank details from what ``actor`` typed (validated by
    payouts.payees.payee_details_clean). A change of account holds payments; see the module docstring."""
    details = payee_details_clean(data)
    # The partner's row is the lock: two people saving the first details at once give one payee.
    partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
    if partner is None:
        raise PayeeInvalid({"partner": UNKNOWN_PARTNER.format(partner_id=partner_id)})
    payee = Payee.objects.select_for_update().filter(partner_id=partner_id).first()
    fields = details.as_fields()
    reason = reason.strip()
    if payee is None:
        require_permission(actor, "payouts.add_payee", "add bank details")
        payee = Payee(partner=partner, **fields)
        _history(payee, actor, reason or REASON_CREATED)
        payee.save()
        return payee
    require_permission(actor, "payouts.change_payee", "change bank details")
    account_changed = any(getattr(payee, name) != fields[name] for name in ACCOUNT_FIELDS)
    if not account_changed and all(getattr(payee, name) == value for name, value in fields.items()):
        return payee  # nothing changed: no version, no hold
    for name, value in fields.items():
        setattr(payee, name, value)
    if account_changed:
        now = timezone.now()
        payee.changed_at, payee.changed_by = now, actor
        payee.hold_until = now + dt.timedelta(days=settings.PAYEE_CHANGE_HOLD_DAYS)
        payee.confirmed_at, payee.confirmed_by = None, None
        payee.blocked_reason = ""
        default = REASON_CHANGED.format(until=payee.hold_until)
    else:
        default = REASON_UPDATED
    _history(payee, actor, f"{reason} ({default})" if reason else default)
    payee.save()
    return payee


@transaction.atomic
def payee_confirm(*, partner_id: int, actor: User, reason: str = "") -> Payee:
    """A second person confirms the last change of bank details: the hold is lifted (hold_until cleared)."""
    require_permission(actor, "payouts.confirm_payee", "confirm a change of bank details")
    payee = (Payee.objects.select_for_update(of=("self",)).select_related("partner", "confirmed_by")
             .filter(partner_id=partner_id).first())
    if payee is None:
        raise PayeeRefused(NO_PAYEE.format(partner=partner_id))
    if payee.changed_at is None:
        raise PayeeRefused(NOTHING_TO_CONFIRM.format(partner=payee.partner))
    if payee.confirmed_at is not None:
        raise PayeeRefused(ALREADY_CONFIRMED.format(partner=payee.partner, user=payee.confirmed_by,
                                                    when=payee.confirmed_at))
    if payee.changed_by_id == actor.pk:
        raise PayeeRefused(SAME_PERSON.format(user=actor))
    payee.confirmed_at, payee.confirmed_by = timezone.now(), actor
    payee.hold_until = None
    reason = reason.strip()
    _history(payee, actor, f"{reason} ({REASON_CONFIRMED})" if reason else REASON_CONFIRMED)
    payee.save(update_fields=["confirmed_at", "confirmed_by", "hold_until"])
    return payee


@transaction.atomic
def payee_block(*, partner_id: int, reason: str, actor: User | None = None) -> Payee:
    """Stop paying ``partner_id`` (a payment came back): payments wait until the details are changed
    (payee_save clears the block). ``actor`` is None when a statement import blocks it."""
    payee = Payee.objects.select_for_update().filter(partner_id=partner_id).first()
    if payee is None:
        raise PayeeRefused(NO_PAYEE.format(partner=partner_id))
    payee.blocked_reason = reason.strip()[:200]
    _history(payee, actor, REASON_BLOCKED.format(reason=payee.blocked_reason))
    payee.save(update_fields=["blocked_reason"])
    return payee
