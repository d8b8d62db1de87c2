"""Account claim links: a manager (or the creation of a partner) sends a single-use, expiring link by e-mail; the
person who opens it sets a password and gets an account acting for that partner, with a verified e-mail address.

Only the SHA-256 of the link's token is stored. The e-mail is sent by a Celery task after the transaction commits
(the token travels in the task's arguments, as it then travels in the e-mail)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from core.tasks import enqueue
from creators.exceptions import (
    CLAIM_EXPIRED,
    CLAIM_UNKNOWN,
    CLAIM_USED,
    EMAIL_TAKEN,
    NO_EMAIL,
    NO_PERMISSION,
    CreatorsError,
)
from creators.models import ClaimInvitation, CreatorMembership, PartnerContact
from partnerships.models import Partner

SEND_PERMISSION = "creators.send_claiminvitation"
TOKEN_MAX_LENGTH = 100


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normalised_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise CreatorsError(NO_EMAIL) from exc
    return email.lower()


@transaction.atomic
def claim_invitation_send(*, partner_id: int, email: str, actor: User | None) -> ClaimInvitation:
    """Create a claim link for the partner and e-mail it once the transaction commits. ``actor`` None is the platform
    itself (a command, the demo); a person needs the permission. The address also becomes the partner's contact
    e-mail when it has none."""
    if actor is not None and not actor.has_perm(SEND_PERMISSION):
        raise CreatorsError(NO_PERMISSION.format(user=actor, permission=SEND_PERMISSION))
    email = _normalised_email(email)
    partner = Partner.objects.get(pk=partner_id)
    token = secrets.token_urlsafe(32)
    claim = ClaimInvitation.objects.create(
        partner=partner, email=email, token_digest=token_digest(token), created_by=actor,
        expires_at=timezone.now() + dt.timedelta(days=settings.CREATOR_CLAIM_DAYS))
    contact, _ = PartnerContact.objects.get_or_create(partner=partner)
    if not contact.email:
        contact.email = email
        contact.save(update_fields=["email", "updated_at"])
    transaction.on_commit(lambda: enqueue("creators.send_claim_link", claim.pk, token))
    return claim


def claim_invitation_for(token: str, *, lock: bool = False) -> ClaimInvitation:
    """The claim link with this token, if it can still be used; else a refusal that says why."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        raise CreatorsError(CLAIM_UNKNOWN)
    claims = ClaimInvitation.objects.select_related("partner")
    if lock:
        claims = claims.select_for_update(of=("self",))
    claim = claims.filter(token_digest=token_digest(token)).first()
    if claim is None:
        raise CreatorsError(CLAIM_UNKNOWN)
    if claim.claimed_at is not None:
        raise CreatorsError(CLAIM_USED.format(when=claim.claimed_at))
    if claim.expires_at <= timezone.now():
        raise CreatorsError(CLAIM_EXPIRED.format(when=claim.expires_at))
    return claim


def _free_username(email: str, claim_id: int) -> str:
    username = email[:150]
    if User.objects.filter(username=username).exists():
        username = f"{email[:130]}-{claim_id}"
    return username


@transaction.atomic
def claim_invitation_accept(*, token: str, password: str) -> User:
    """Use a claim link: create the user (password checked by Django's validators), their membership of the partner
    and their verified e-mail address, and spend the link. The link's row is locked, so two uses at once make one
    account; the second is told the link was used."""
    claim = claim_invitation_for(token, lock=True)
    if (User.objects.filter(email__iexact=claim.email).exists()
            or EmailAddress.objects.filter(email__iexact=claim.email).exists()):
        raise CreatorsError(EMAIL_TAKEN.format(email=claim.email))
    user = User(username=_free_username(claim.email, claim.pk), email=claim.email)
    validate_password(password, user=user)  # ValidationError with Django's messages
    user.set_password(password)
    user.save()
    CreatorMembership.objects.create(user=user, partner=claim.partner)
    EmailAddress.objects.create(user=user, email=claim.email, verified=True, primary=True)
    claim.claimed_at, claim.claimed_by = timezone.now(), user
    claim.save(update_fields=["claimed_at", "claimed_by"])
    return user
