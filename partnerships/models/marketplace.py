"""Brand matching: brands and their members, campaigns, invitations, shortlists and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.validators import CURRENCY_CODE_VALIDATOR, PLAN_DATE_VALIDATORS
from partnerships.models.partners import Category, Partner

# Text a brand writes has a maximum length, enforced by forms and serializers (from max_length) and by the database
# (a check on the length: PostgreSQL does not bound text, SQLite bounds no column): one 2 MiB invitation to 20
# creators grew the database by 80 MiB.
CAMPAIGN_NAME_MAX = 160
CAMPAIGN_BRIEF_MAX = 5_000
CAMPAIGN_DELIVERABLES_MAX = 2_000
INVITATION_MESSAGE_MAX = 2_000
SHORTLIST_NOTE_MAX = 200


def length_at_most(field: str, limit: int, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=LessThanOrEqual(Length(field), limit), name=name,
                                  violation_error_message=f"{field} is at most {limit} characters.")


class Brand(models.Model):
    """An advertiser whose staff search creators and run campaigns."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("export_brand", "Can export brands to a spreadsheet")]

    def __str__(self) -> str:
        return self.name


class BrandMembership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="brand_memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)
    role_since = models.DateTimeField(default=timezone.now, editable=False,
                                      help_text="When the current role was given: older API tokens stop working.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "user"], name="brand_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.brand} ({self.get_role_display().lower()})"

    def save(self, *args, **kwargs):
        # Kept here rather than in a service because the admin's inline changes roles by saving the row: any save
        # that changes the role moves role_since, and every API token issued before it stops working.
        loaded = getattr(self, "_loaded_role", None)
        if self.pk is not None and loaded is not None and loaded != self.role:
            self.role_since = timezone.now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "role_since"}
        super().save(*args, **kwargs)
        self._loaded_role = self.role

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_role = instance.__dict__.get("role")
        return instance


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=CAMPAIGN_NAME_MAX)
    brief = models.TextField(blank=True, max_length=CAMPAIGN_BRIEF_MAX)
    budget_minor = models.BigIntegerField(validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, validators=[CURRENCY_CODE_VALIDATOR])
    target_countries = models.JSONField(default=list, blank=True, help_text="Empty means every country.")
    categories = models.ManyToManyField(Category, blank=True, related_name="campaigns")
    followers_min = models.PositiveBigIntegerField(default=0)
    followers_max = models.PositiveBigIntegerField(null=True, blank=True)
    # A percentage: 99,999.99 fits the column but matches nobody, so it is refused like in the search filters.
    min_engagement_rate = models.DecimalField(max_digits=7, decimal_places=2, default=0,
                                              validators=[MinValueValidator(0), MaxValueValidator(100)])
    min_avg_views = models.PositiveBigIntegerField(default=0)
    deliverables = models.TextField(blank=True, max_length=CAMPAIGN_DELIVERABLES_MAX)
    starts_on = models.DateField(validators=PLAN_DATE_VALIDATORS)
    ends_on = models.DateField(validators=PLAN_DATE_VALIDATORS)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_ends_after_start",
                                   violation_error_message="A campaign cannot end before it starts."),
            models.CheckConstraint(condition=Q(budget_minor__gte=0), name="campaign_budget_not_negative"),
            models.CheckConstraint(
                condition=Q(followers_max__isnull=True) | Q(followers_max__gte=models.F("followers_min")),
                name="campaign_follower_range_ordered",
                violation_error_message="The follower range's maximum is below its minimum."),
            length_at_most("name", CAMPAIGN_NAME_MAX, "campaign_name_length"),
            length_at_most("brief", CAMPAIGN_BRIEF_MAX, "campaign_brief_length"),
            length_at_most("deliverables", CAMPAIGN_DELIVERABLES_MAX, "campaign_deliverables_length"),
        ]
        indexes = [models.Index(fields=["brand", "status"], name="campaign_brand_status_idx")]
        permissions = [("export_campaign", "Can export campaigns to a spreadsheet")]

    def __str__(self) -> str:
        return self.name


class Invitation(models.Model):
    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invitations")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="invitations")
    offered_fee_minor = models.BigIntegerField(validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, validators=[CURRENCY_CODE_VALIDATOR])
    message = models.TextField(blank=True, max_length=INVITATION_MESSAGE_MAX)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INVITED)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    invited_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    # The creator's words with their answer (the creator portal), shown to the brand beside it.
    answer_message = models.TextField(blank=True, default="", max_length=INVITATION_MESSAGE_MAX)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "partner"], name="invitation_one_per_campaign_partner",
                                    violation_error_message="This creator was already invited to this campaign."),
            models.CheckConstraint(condition=Q(offered_fee_minor__gte=0), name="invitation_fee_not_negative"),
            length_at_most("message", INVITATION_MESSAGE_MAX, "invitation_message_length"),
            length_at_most("answer_message", INVITATION_MESSAGE_MAX, "invitation_answer_message_length"),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="invitation_expiry_idx")]

    def __str__(self) -> str:
        return f"{self.campaign} → @{self.partner.handle}"


class ShortlistEntry(models.Model):
    """A creator a brand keeps in mind for a campaign, before (or instead of) inviting them. Inviting the
    creator moves them from the shortlist to the invitations."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="shortlist")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="shortlist_entries")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=SHORTLIST_NOTE_MAX, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "partner"], name="shortlist_one_per_campaign_partner",
                                    violation_error_message="This creator is already on this campaign's shortlist."),
            length_at_most("note", SHORTLIST_NOTE_MAX, "shortlist_note_length"),
        ]
        verbose_name_plural = "shortlist entries"

    def __str__(self) -> str:
        return f"@{self.partner.handle} on the shortlist of {self.campaign}"


class ApiToken(models.Model):
    """A revocable token for a brand's integration. Only a SHA-256 of the secret is stored; the secret is
    shown once, when the token is created."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="api_tokens")
    # The membership and role the token was issued for: removing the member (even if re-added later, which makes a
    # new membership) or changing their role ends the token; the row stays as the record of who had access.
    membership = models.ForeignKey(BrandMembership, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="api_tokens")
    role = models.CharField(max_length=10, choices=BrandMembership.Role.choices, default=BrandMembership.Role.ADMIN)
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12, db_index=True, help_text="The first characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
