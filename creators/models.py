"""The creator portal's records: who signs in for which partner, account claim links, the notifications sent
(one row per event and recipient, so an event never mails anyone twice) and each user's notification preferences."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from partnerships.models import Partner


class CreatorMembership(models.Model):
    """A user who signs in to the creator pages for a partner. A partner (an organisation especially) may have several
    people; a user acts for one partner only."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="creator_membership")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="creator_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} for @{self.partner.handle}"


class PartnerContact(models.Model):
    """Where the platform writes to a partner (not public: brands never see it)."""

    partner = models.OneToOneField(Partner, primary_key=True, on_delete=models.CASCADE, related_name="contact")
    email = models.EmailField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"contact of @{self.partner.handle}"


class ClaimInvitation(models.Model):
    """A single-use link that lets a person create their account for a partner. Only the SHA-256 of the link's
    token is stored: the token itself exists only in the e-mail."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="claim_invitations")
    email = models.EmailField()
    token_digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        permissions = [("send_claiminvitation", "Can send creator account claim invitations")]

    def __str__(self) -> str:
        return f"claim link {self.pk} for @{self.partner.handle}"


class Notification(models.Model):
    """One e-mail for one event to one recipient, written before it is sent and marked sent after: the row is the
    event's "already done", whatever retried or duplicated task meets it."""

    class Kind(models.TextChoices):
        CLAIM = "claim", "Account claim link"
        APPLICATION_DECIDED = "application_decided", "Application decided"
        INVITATION_RECEIVED = "invitation_received", "Brand invitation received"
        INVITATION_ANSWERED = "invitation_answered", "Invitation answered (brands)"
        STATEMENTS = "statements", "Statement ready or payment sent"
        SECURITY = "security", "Security notice"

    event_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="notifications")
    email = models.EmailField(help_text="Where it went (a claim link goes to an address that has no user yet).")
    subject = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_key", "user"], condition=Q(user__isnull=False),
                                    name="notification_once_per_event_user"),
            models.UniqueConstraint(fields=["event_key", "email"], condition=Q(user__isnull=True),
                                    name="notification_once_per_event_address"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.email} ({self.event_key})"


class NotificationPreference(models.Model):
    """What a user wants to hear about by e-mail. Security notices are not here: they cannot be turned off."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="notification_preference")
    application_decided = models.BooleanField(default=True)
    invitation_received = models.BooleanField(default=True)
    invitation_answered = models.BooleanField(default=True)
    statements = models.BooleanField(default=True)
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, blank=True,
                                help_text="The language of the e-mails; empty: the site's default (English).")

    def __str__(self) -> str:
        return f"notification preferences of {self.user}"

    def allows(self, kind: str) -> bool:
        return bool(getattr(self, kind, True))
