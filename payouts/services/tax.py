"""Tax profiles and the treaty table: every write with the acting user, a reason kept in the history, and the
computed runs that the change affects marked stale (they must be computed again before anyone approves them).

Separation of duties (issue 15): recording a form (received, missing, expired) needs ``payouts.change_taxprofile``;
validating one, or changing a profile that is validated, needs ``partnerships.change_payout_readiness`` too —
finance's permission, which partnership managers do not hold. A validated form lowers what is withheld, so a
manager can never make it so.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.permissions import REASON_REQUIRED
from partnerships.models import Partner
from payouts.exceptions import NotPermitted, PayoutsError
from payouts.models import EarningLine, PayoutRun, TaxProfile, TreatyRate
from payouts.services.guards import require_permission

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CHANGE_PROFILE_PERMISSION = "payouts.change_taxprofile"
VALIDATE_PERMISSION = "partnerships.change_payout_readiness"
TREATY_PERMISSION = "payouts.change_treatyrate"

CANNOT_VALIDATE = ("{user} may not validate a tax form or change a validated one: that is finance's check (it needs "
                   "the permission “{permission}”).")
VALIDATED_NEEDS = "A validated form needs {what}."
PROFILE_STALE = "Tax profile of @{handle} changed by {user}: {reason}"
TREATY_STALE = "Treaty rate {country} {income_type} {change} by {user}: {reason}"

S = TaxProfile.Status


class TaxRefused(PayoutsError):
    pass


def _reason(reason: str | None, action: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise TaxRefused(REASON_REQUIRED.format(action=action))
    return reason


def _mark_runs_stale(lines: Q, reason: str) -> None:
    """After commit: the computed (or computing), not yet approved monthly runs with a line matching ``lines``
    (looked up among those runs' lines only: a partner's through the unique (partner, run) index, others through
    the runs' BRIN index)."""
    def mark() -> None:
        open_runs = PayoutRun.objects.final().filter(
            stale_reason="", status__in=[PayoutRun.Status.COMPUTED, PayoutRun.Status.COMPUTING])
        concerned = EarningLine.objects.filter(lines, run_id__in=open_runs.values("pk")).values("run_id")
        open_runs.filter(pk__in=concerned).update(stale_reason=reason[:300])
    transaction.on_commit(mark)


@transaction.atomic
def tax_profile_save(*, partner_id: int, actor: User, form_type: str, status: str, residence_country: str = "",
                     expires_on: dt.date | None = None, reason: str) -> TaxProfile:
    """Create or change a partner's tax profile. Validating it (or changing a validated one) is finance's; a form
    becomes received when first recorded as such, validated by the actor when validated. Refused, writing nothing,
    on a missing permission or reason, or a profile that does not hold together (a validated form without a form
    type or residence country)."""
    require_permission(actor, CHANGE_PROFILE_PERMISSION, "record tax forms")
    reason = _reason(reason, "change a tax profile")
    partner = Partner.objects.select_for_update().get(pk=partner_id)
    profile = TaxProfile.objects.select_for_update().filter(partner=partner).first()
    was_validated = profile is not None and profile.status == S.VALIDATED
    if (status == S.VALIDATED or was_validated) and not actor.has_perm(VALIDATE_PERMISSION):
        raise NotPermitted(CANNOT_VALIDATE.format(user=actor, permission=VALIDATE_PERMISSION))
    if profile is None:
        profile = TaxProfile(partner=partner)
    residence_country = (residence_country or "").strip().upper()
    before = (profile.form_type, profile.status, profile.residence_country, profile.expires_on)
    profile.form_type, profile.status = form_type, status
    profile.residence_country, profile.expires_on = residence_country, expires_on
    if profile.pk is not None and before == (form_type, status, residence_country, expires_on):
        return profile
    now = timezone.now()
    if status in (S.RECEIVED, S.VALIDATED) and profile.received_at is None:
        profile.received_at = now
    if status == S.VALIDATED:
        if form_type == TaxProfile.FormType.NONE:
            raise TaxRefused(VALIDATED_NEEDS.format(what="its form type (W-9, W-8BEN or W-8BEN-E)"))
        if not residence_country:
            raise TaxRefused(VALIDATED_NEEDS.format(what="the residence country the form states"))
        profile.validated_by, profile.validated_at = actor, now
    else:
        profile.validated_by, profile.validated_at = None, None
    try:
        profile.full_clean(exclude=["partner"])
    except ValidationError as exc:
        raise TaxRefused("; ".join(f"{field}: {' '.join(messages)}"
                                   for field, messages in exc.message_dict.items())) from exc
    profile._history_user = actor  # type: ignore[attr-defined]
    profile._change_reason = reason  # type: ignore[attr-defined]
    profile.save()
    _mark_runs_stale(Q(partner_id=partner.pk),
                     PROFILE_STALE.format(handle=partner.handle, user=actor.get_username(), reason=reason))
    return profile


@transaction.atomic
def treaty_rate_save(*, actor: User, residence_country: str, income_type: str, rate: Decimal, reason: str,
                     treaty_rate_id: int | None = None) -> TreatyRate:
    """Create or change a row of the treaty table (finance's data), with a reason kept in its history."""
    require_permission(actor, TREATY_PERMISSION, "change treaty rates")
    reason = _reason(reason, "change a treaty rate")
    treaty = (TreatyRate.objects.select_for_update().get(pk=treaty_rate_id) if treaty_rate_id is not None
              else TreatyRate())
    countries = {treaty.residence_country, residence_country} - {""}
    treaty.residence_country, treaty.income_type, treaty.rate = residence_country, income_type, rate
    try:
        treaty.full_clean()
    except ValidationError as exc:
        raise TaxRefused("; ".join(f"{field}: {' '.join(messages)}"
                                   for field, messages in exc.message_dict.items())) from exc
    change = "changed" if treaty_rate_id is not None else "added"
    treaty._history_user = actor  # type: ignore[attr-defined]
    treaty._change_reason = reason  # type: ignore[attr-defined]
    treaty.save()
    _mark_runs_stale(Q(tax_country__in=countries), TREATY_STALE.format(
        country=residence_country, income_type=income_type, change=change, user=actor.get_username(), reason=reason))
    return treaty


@transaction.atomic
def treaty_rate_delete(*, actor: User, treaty_rate_id: int, reason: str) -> None:
    require_permission(actor, "payouts.delete_treatyrate", "delete treaty rates")
    reason = _reason(reason, "delete a treaty rate")
    treaty = TreatyRate.objects.select_for_update().get(pk=treaty_rate_id)
    treaty._history_user = actor  # type: ignore[attr-defined]
    treaty._change_reason = reason  # type: ignore[attr-defined]
    treaty.delete()
    _mark_runs_stale(Q(tax_country=treaty.residence_country), TREATY_STALE.format(
        country=treaty.residence_country, income_type=treaty.income_type, change="deleted",
        user=actor.get_username(), reason=reason))
