"""Every write of the brand marketplace: campaigns, shortlists, invitations and API tokens.

A brand user acts only within brands they belong to; anything else is "not found", so ids of other
brands reveal nothing. The API, the brand pages, the admin and the Celery task call these functions."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.validators import bad_country_codes
from partnerships.exceptions import PartnershipsError
from partnerships.marketplace.rules import is_brand_admin, marketplace_partners, membership, user_brands
from partnerships.marketplace.tokens import new_secret, token_digest
from partnerships.models import (
    ApiToken,
    Brand,
    BrandMembership,
    Campaign,
    Category,
    Invitation,
    Partner,
    ShortlistEntry,
)
from partnerships.services.access import acts_for_partner

if TYPE_CHECKING:  # the project's user model (AUTH_USER_MODEL is auth.User): brand members and staff
    from django.contrib.auth.models import User


class MarketplaceError(PartnershipsError):
    pass


class NotFound(MarketplaceError):
    pass


class CampaignHasHistory(MarketplaceError):
    """A campaign that creators answered is part of the record: it is closed, never deleted."""


BRAND_NOT_FOUND = "No such brand among yours."
CAMPAIGN_NOT_FOUND = "No such campaign among your brands' campaigns."
INVITATION_NOT_FOUND = "No such invitation among your brands' campaigns."
CREATOR_NOT_AVAILABLE = "@{handle} cannot be invited: they are not available for brand deals."
CURRENCY_MISMATCH = "The fee must be in the campaign's currency ({campaign}), not {fee}."
ALREADY_INVITED = "@{handle} was already invited to “{campaign}”."
CAMPAIGN_NOT_OPEN = "“{campaign}” is {status}: creators are invited to open campaigns only."
ENDS_BEFORE_START = "A campaign cannot end ({ends:%Y-%m-%d}) before it starts ({starts:%Y-%m-%d})."
FOLLOWER_RANGE = "The follower range's maximum ({high:,}) is below its minimum ({low:,})."
CANNOT_WITHDRAW = "Invitation {pk} is {status}: only an invitation still waiting for an answer can be withdrawn."
CANNOT_ANSWER = "Invitation {pk} is {status}: only an invitation still waiting for an answer can be answered."
UNKNOWN_COUNTRY = "Not two-letter country codes: {codes}."
NOT_BRAND_ADMIN = "Only a brand admin can {action}."
CREATOR_NOT_SHORTLISTABLE = "@{handle} cannot be shortlisted: they are not available for brand deals."
CAMPAIGN_CLOSED_FOR_SHORTLIST = "“{campaign}” is closed: creators are shortlisted for draft or open campaigns only."
SHORTLIST_ALREADY_INVITED = "@{handle} was already invited to “{campaign}”: they are not shortlisted again."
SHORTLIST_ENTRY_NOT_FOUND = "@{handle} is not on the shortlist of “{campaign}”."
CAMPAIGN_HAS_HISTORY = ("“{campaign}” cannot be deleted: {count} of its invitations were accepted or answered, and "
                        "that history is kept. Close (archive) the campaign instead.")
ALREADY_CLOSED = "“{campaign}” is already closed."
NOTE_TOO_LONG = "A shortlist note is at most {limit} characters ({length} given)."
TEXT_TOO_LONG = "{field}: at most {limit} characters ({length:,} given)."

CAMPAIGN_FIELDS = ("name", "brief", "budget_minor", "currency", "target_countries", "followers_min",
                   "followers_max", "min_engagement_rate", "min_avg_views", "deliverables", "starts_on", "ends_on",
                   "status")


def brand_for(user: User, brand_id: int, *, token=None, admin: bool = False) -> Brand:
    """The brand the user acts for with this id (rules.membership), else "not found"; with ``admin``, only if they
    are one of its admins."""
    brand = user_brands(user, token).filter(pk=brand_id).first()
    if brand is None:
        raise NotFound(BRAND_NOT_FOUND)
    if admin and not is_brand_admin(user, brand):
        raise MarketplaceError(NOT_BRAND_ADMIN.format(action="manage API tokens"))
    return brand


def text_within_limits(model, values: dict) -> None:
    """Text longer than its field allows is refused by name before the database's length check would fail."""
    for name, value in values.items():
        limit = getattr(model._meta.get_field(name), "max_length", None) if isinstance(value, str) else None
        if limit is not None and len(value) > limit:
            raise MarketplaceError(TEXT_TOO_LONG.format(field=name, limit=limit, length=len(value)))


def _validate_campaign(values: dict) -> None:
    text_within_limits(Campaign, {name: values.get(name) for name in ("name", "brief", "deliverables")})
    starts, ends = values.get("starts_on"), values.get("ends_on")
    if starts and ends and ends < starts:
        raise MarketplaceError(ENDS_BEFORE_START.format(ends=ends, starts=starts))
    low, high = values.get("followers_min") or 0, values.get("followers_max")
    if high is not None and high < low:
        raise MarketplaceError(FOLLOWER_RANGE.format(high=high, low=low))
    bad = bad_country_codes(values.get("target_countries") or [])
    if bad:
        raise MarketplaceError(UNKNOWN_COUNTRY.format(codes=", ".join(map(str, bad))))


@transaction.atomic
def campaign_create(*, user: User, brand_id: int, categories: list[Category] | None = None,
                    token=None, **values) -> Campaign:
    brand = brand_for(user, brand_id, token=token)
    values = {key: value for key, value in values.items() if key in CAMPAIGN_FIELDS}
    _validate_campaign(values)
    campaign = Campaign.objects.create(brand=brand, created_by=user, **values)
    if categories:
        campaign.categories.set(categories)
    return campaign


@transaction.atomic
def campaign_update(*, user: User, campaign_id: int, categories: list[Category] | None = None,
                    token=None, **values) -> Campaign:
    campaign = _campaign_for(user, campaign_id, token=token, lock=True)
    merged = {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS}
    merged.update({key: value for key, value in values.items() if key in CAMPAIGN_FIELDS})
    _validate_campaign(merged)
    for name, value in merged.items():
        setattr(campaign, name, value)
    campaign.save()
    if categories is not None:
        campaign.categories.set(categories)
    return campaign


ANSWERED = (Invitation.Status.ACCEPTED, Invitation.Status.DECLINED)


def campaign_answered_invitations(campaign_ids) -> set[int]:
    """The campaigns among these that have an accepted or answered invitation: they are kept, never deleted."""
    return set(Invitation.objects.filter(campaign_id__in=campaign_ids, status__in=ANSWERED)
               .values_list("campaign_id", flat=True).distinct())


@transaction.atomic
def campaign_delete(*, user: User, campaign_id: int, token=None) -> None:
    """Delete a campaign nobody answered. One with an accepted or answered invitation is refused (close it instead):
    its invitations are locked first, so an answer recorded meanwhile is either seen here or waits and finds the
    campaign gone."""
    campaign = _campaign_for(user, campaign_id, token=token, lock=True)
    statuses = Invitation.objects.select_for_update().filter(campaign=campaign).values_list("status", flat=True)
    answered = sum(status in ANSWERED for status in statuses)
    if answered:
        raise CampaignHasHistory(CAMPAIGN_HAS_HISTORY.format(campaign=campaign.name, count=answered))
    campaign.delete()


@transaction.atomic
def campaign_archive(*, user: User, campaign_id: int, token=None) -> Campaign:
    """Close a campaign for good: nobody is invited or shortlisted any more; it and its invitations stay on record."""
    campaign = _campaign_for(user, campaign_id, token=token, lock=True)
    if campaign.status == Campaign.Status.CLOSED:
        raise MarketplaceError(ALREADY_CLOSED.format(campaign=campaign.name))
    campaign.status = Campaign.Status.CLOSED
    campaign._history_user = user  # type: ignore[attr-defined]
    campaign.save(update_fields=["status", "updated_at"])
    return campaign


def _campaign_for(user: User, campaign_id: int, *, token=None, lock: bool = False) -> Campaign:
    campaigns = Campaign.objects.filter(membership(user, token, via="brand"), pk=campaign_id)
    if lock:
        campaigns = Campaign.objects.select_for_update().filter(pk__in=campaigns.values("pk"))
    campaign = campaigns.first()
    if campaign is None:
        raise NotFound(CAMPAIGN_NOT_FOUND)
    return campaign


@transaction.atomic
def invitation_create(*, user: User, campaign_id: int, partner_handle: str, offered_fee_minor: int,
                      currency: str, message: str = "", token=None) -> Invitation:
    """Invite an available creator to an open campaign of the user's brand, with a fee in its currency.
    The campaign's row is locked, as shortlist_add locks it: a creator is never both invited and shortlisted."""
    text_within_limits(Invitation, {"message": message})
    campaign = _campaign_for(user, campaign_id, token=token, lock=True)
    if campaign.status != Campaign.Status.OPEN:
        raise MarketplaceError(CAMPAIGN_NOT_OPEN.format(campaign=campaign.name, status=campaign.status))
    if currency != campaign.currency:
        raise MarketplaceError(CURRENCY_MISMATCH.format(campaign=campaign.currency, fee=currency))
    partner = marketplace_partners().filter(handle=partner_handle).first()
    if partner is None:
        raise MarketplaceError(CREATOR_NOT_AVAILABLE.format(handle=partner_handle))
    now = timezone.now()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                campaign=campaign, partner=partner, offered_fee_minor=offered_fee_minor, currency=currency,
                message=message, invited_by=user, invited_at=now,
                expires_at=now + dt.timedelta(days=settings.INVITATION_DAYS_TO_ANSWER))
    except IntegrityError as exc:
        raise MarketplaceError(ALREADY_INVITED.format(handle=partner_handle, campaign=campaign.name)) from exc
    # An invited creator moves from the shortlist to the invitations, in this same transaction.
    ShortlistEntry.objects.filter(campaign=campaign, partner=partner).delete()
    return invitation


def shortlistable_partner(handle: str) -> Partner:
    """The creator with this handle if brands may find them (the same rule as invitations), else a refusal.
    The brands' shortlist and the admin's shortlist inline both check it."""
    partner = marketplace_partners().filter(handle=handle).first()
    if partner is None:
        raise MarketplaceError(CREATOR_NOT_SHORTLISTABLE.format(handle=handle))
    return partner


@transaction.atomic
def shortlist_add(*, user: User, campaign_id: int, partner_handle: str, note: str = "",
                  token=None) -> tuple[ShortlistEntry, bool]:
    """Keep an available creator in mind for a draft or open campaign of the user's brand, without inviting
    them. Idempotent: adding a creator already on the shortlist returns their entry as it is (note
    unchanged) with ``created`` False. One entry per campaign and creator is a database constraint; a
    creator already invited to the campaign is refused (inviting moves them off the shortlist)."""
    limit = ShortlistEntry._meta.get_field("note").max_length
    if limit is not None and len(note) > limit:
        raise MarketplaceError(NOTE_TOO_LONG.format(limit=limit, length=len(note)))
    campaign = _campaign_for(user, campaign_id, token=token, lock=True)  # in turn with invitation_create
    if campaign.status == Campaign.Status.CLOSED:
        raise MarketplaceError(CAMPAIGN_CLOSED_FOR_SHORTLIST.format(campaign=campaign.name))
    partner = shortlistable_partner(partner_handle)
    if Invitation.objects.filter(campaign=campaign, partner=partner).exists():
        raise MarketplaceError(SHORTLIST_ALREADY_INVITED.format(handle=partner_handle, campaign=campaign.name))
    # get_or_create re-reads the entry if a concurrent request inserted it first (the unique constraint).
    return ShortlistEntry.objects.get_or_create(campaign=campaign, partner=partner,
                                                defaults={"added_by": user, "note": note})


@transaction.atomic
def shortlist_remove(*, user: User, campaign_id: int, partner_handle: str, token=None) -> None:
    """Take a creator off a campaign's shortlist (any campaign status: tidying a closed campaign is fine)."""
    campaign = _campaign_for(user, campaign_id, token=token)
    deleted, _ = ShortlistEntry.objects.filter(campaign=campaign, partner__handle=partner_handle).delete()
    if not deleted:
        raise NotFound(SHORTLIST_ENTRY_NOT_FOUND.format(handle=partner_handle, campaign=campaign.name))


@transaction.atomic
def invitation_withdraw(*, user: User, invitation_id: int, token=None) -> Invitation:
    invitation = Invitation.objects.select_for_update(of=("self",)).filter(
        membership(user, token, via="campaign__brand"), pk=invitation_id).first()
    if invitation is None:
        raise NotFound(INVITATION_NOT_FOUND)
    if invitation.status != Invitation.Status.INVITED:
        raise MarketplaceError(CANNOT_WITHDRAW.format(pk=invitation.pk, status=invitation.status))
    invitation.status, invitation.responded_at = Invitation.Status.WITHDRAWN, timezone.now()
    invitation.save(update_fields=["status", "responded_at"])
    return invitation


ANSWER_EXPIRED = ("This invitation expired on {expires:%Y-%m-%d %H:%M} UTC: it can no longer be accepted or declined.")
NOT_ANSWERER = "Only the invited creator's people, or staff with the permission to change invitations, record answers."


@transaction.atomic
def invitation_answer(*, invitation_id: int, accept: bool, actor: User, message: str = "") -> Invitation:
    """Record the creator's answer, with an optional message for the brand: by one of the invited partner's own
    people (creator portal) or by staff on their behalf. Refused once the invitation expired, even before the
    expiry task marked it."""
    staff = actor.has_perm("partnerships.change_invitation")
    text_within_limits(Invitation, {"answer_message": message})
    invitation = Invitation.objects.select_for_update().filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound(INVITATION_NOT_FOUND)
    if not (staff or acts_for_partner(actor, invitation.partner_id)):
        raise MarketplaceError(NOT_ANSWERER)
    now = timezone.now()
    if invitation.status == Invitation.Status.INVITED and invitation.expires_at <= now:
        raise MarketplaceError(ANSWER_EXPIRED.format(expires=invitation.expires_at))
    if invitation.status != Invitation.Status.INVITED:
        raise MarketplaceError(CANNOT_ANSWER.format(pk=invitation.pk, status=invitation.status))
    invitation.status = Invitation.Status.ACCEPTED if accept else Invitation.Status.DECLINED
    invitation.responded_at = now
    invitation.answer_message = message.strip()
    invitation._history_user = actor  # type: ignore[attr-defined]
    invitation.save(update_fields=["status", "responded_at", "answer_message"])
    return invitation


def invitations_expire(*, now: dt.datetime | None = None) -> int:
    """Expire every invitation past its answer date, in one statement. Idempotent."""
    now = now or timezone.now()
    return Invitation.objects.filter(status=Invitation.Status.INVITED, expires_at__lte=now).update(
        status=Invitation.Status.EXPIRED, responded_at=now)


@transaction.atomic
def api_token_create(*, user: User, brand_id: int, name: str) -> tuple[ApiToken, str]:
    """Create a token for a brand's integration; returns it with its secret, which is not stored."""
    brand = brand_for(user, brand_id, admin=True)
    membership = BrandMembership.objects.get(brand=brand, user=user)
    secret = new_secret()
    token = ApiToken.objects.create(user=user, brand=brand, membership=membership, role=membership.role,
                                    name=name or "integration", prefix=secret[:10], digest=token_digest(secret))
    return token, secret


@transaction.atomic
def api_token_revoke(*, token_id: int, actor: User) -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token_id)
    if not actor.has_perm("partnerships.change_apitoken"):
        brand_for(actor, token.brand_id, admin=True)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def partner_by_handle(handle: str) -> Partner:
    partner = marketplace_partners().filter(handle=handle).first()
    if partner is None:
        raise NotFound(CREATOR_NOT_AVAILABLE.format(handle=handle))
    return partner
