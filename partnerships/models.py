"""Who takes part: partners, programs, applications (enrolments) and the metrics they are judged on.

Models hold fields, constraints and pure query filters. Every write goes through services.py.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.validators import COUNTRY_CODE_VALIDATOR, CURRENCY_CODE_VALIDATOR, HANDLE_VALIDATOR, bad_country_codes

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


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (for example Europe/Paris).")


class Category(models.Model):
    """A content category (comedy, education, ...): an admin-editable list."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class PartnerQuerySet(models.QuerySet):
    def active(self) -> PartnerQuerySet:
        return self.filter(status=Partner.Status.ACTIVE)

    def in_category(self, category_id: int) -> PartnerQuerySet:
        # A subquery instead of a join keeps one row per partner, so no DISTINCT over a large table.
        through = Partner.categories.through
        return self.filter(pk__in=through.objects.filter(category_id=category_id).values("partner_id"))


class Partner(models.Model):
    """Someone the platform partners with: a person or an organisation."""

    class Kind(models.TextChoices):
        CREATOR = "creator", "Creator"
        PUBLIC_FIGURE = "public_figure", "Public figure"
        PUBLISHER = "publisher", "Publisher"
        EDUCATOR = "educator", "Educator"
        INSTITUTION = "institution", "Institution"

    ORGANISATION_KINDS = frozenset({Kind.PUBLISHER, Kind.INSTITUTION})

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REMOVED = "removed", "Removed"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CREATOR)
    handle = models.CharField(max_length=40, unique=True, validators=[HANDLE_VALIDATOR])
    display_name = models.CharField(max_length=120)
    country = models.CharField(max_length=2, validators=[COUNTRY_CODE_VALIDATOR], db_index=True)
    date_of_birth = models.DateField(
        null=True, blank=True, help_text="People only. Organisations (publishers, institutions) have none."
    )
    age_verified = models.BooleanField(
        default=False, help_text="An identity check confirmed the person is an adult (18+)."
    )
    categories = models.ManyToManyField(Category, blank=True, related_name="partners")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    status_reason = models.TextField(blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    tax_form_on_file = models.BooleanField(default=False)
    identity_verified = models.BooleanField(default=False)
    opted_into_brand_deals = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(
        excluded_fields=["updated_at"], m2m_fields=[categories], history_change_reason_field=models.TextField(null=True)
    )
    objects = PartnerQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["publisher", "institution"]) | Q(date_of_birth__isnull=True),
                name="partner_organisation_has_no_birth_date",
                violation_error_message="Publishers and institutions are organisations: leave date of birth empty.",
            ),
        ]
        permissions = [
            ("suspend_partner", "Can suspend and reinstate partners"),
            ("import_partner", "Can import partners from a spreadsheet"),
            ("export_partner", "Can export partners to a spreadsheet"),
            # Finance's facts (tax form, identity): a run pays whoever they clear (migration 0013).
            ("change_payout_readiness", "Can record a partner's tax form and identity checks"),
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"

    @property
    def is_organisation(self) -> bool:
        return self.kind in self.ORGANISATION_KINDS


class PartnerStatistics(models.Model):
    """Rolled-up figures per partner over the last 30 days, refreshed from DailyMetric in SQL.

    Eligibility and brand search read these, never the raw daily rows."""

    partner = models.OneToOneField(Partner, primary_key=True, on_delete=models.CASCADE, related_name="statistics")
    as_of = models.DateField(help_text="Last day of the 30-day window.")
    followers = models.BigIntegerField(default=0, db_index=True)
    views_30d = models.BigIntegerField(default=0, db_index=True)
    qualified_views_30d = models.BigIntegerField(default=0)
    likes_30d = models.BigIntegerField(default=0)
    comments_30d = models.BigIntegerField(default=0)
    shares_30d = models.BigIntegerField(default=0)
    posts_30d = models.IntegerField(default=0)
    # Indexed: brand search sorts and filters on these (bench/search.py).
    avg_views_per_post = models.BigIntegerField(default=0, db_index=True)
    engagement_rate = models.DecimalField(
        max_digits=7, decimal_places=2, default=0, db_index=True,
        help_text="(likes + comments + shares) / views, in percent."
    )
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "partner statistics"

    def __str__(self) -> str:
        return f"statistics of partner {self.partner_id} as of {self.as_of}"


class DailyMetric(models.Model):
    """One partner's figures for one day, as the data pipeline delivers them."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="daily_metrics")
    day = models.DateField()
    views = models.PositiveBigIntegerField(default=0)
    qualified_views = models.PositiveBigIntegerField(default=0)
    likes = models.PositiveBigIntegerField(default=0)
    comments = models.PositiveBigIntegerField(default=0)
    shares = models.PositiveBigIntegerField(default=0)
    followers = models.PositiveBigIntegerField(default=0, help_text="Follower count at the end of the day.")
    posts = models.PositiveIntegerField(default=0, help_text="Posts published that day.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "day"], name="daily_metric_one_row_per_partner_day"),
            models.CheckConstraint(
                condition=Q(qualified_views__lte=models.F("views")),
                name="daily_metric_qualified_views_within_views",
                violation_error_message="Qualified views cannot exceed views.",
            ),
        ]
        permissions = [
            ("import_dailymetric", "Can import daily metrics (spreadsheet or bulk file)"),
            ("export_dailymetric", "Can export daily metrics to a spreadsheet"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} on {self.day}"


class Program(models.Model):
    """A partner program and its eligibility rule, stored as data so managers can change it."""

    class Archetype(models.TextChoices):
        POOLED_FUND = "pooled_fund", "Pooled fund"
        REVENUE_SHARE = "revenue_share", "Revenue share"
        RATE_PER_MILLE = "rate_per_mille", "Rate per 1,000 views"
        GRANT = "grant", "Grant"
        BRAND_DEALS = "brand_deals", "Brand deals"

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    archetype = models.CharField(max_length=20, choices=Archetype.choices)
    currency = models.CharField(max_length=3, validators=[CURRENCY_CODE_VALIDATOR])
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    is_open = models.BooleanField(default=True, help_text="Closed programs take no new applications.")

    min_followers = models.PositiveIntegerField(default=0)
    min_views_30d = models.PositiveBigIntegerField("minimum views in the last 30 days", default=0)
    min_posts_30d = models.PositiveIntegerField("minimum posts in the last 30 days", default=0)
    min_age = models.PositiveSmallIntegerField(default=18, help_text="Ignored for organisations.")
    allowed_kinds = models.JSONField(default=list, blank=True, help_text="Empty means every kind.")
    allowed_countries = models.JSONField(default=list, blank=True, help_text="Empty means every country.")
    require_good_standing = models.BooleanField(default=True, help_text="The partner's status must be active.")
    reapply_cooldown_days = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(0)], help_text="Days a rejected partner waits to re-apply."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = sorted(set(self.allowed_kinds or []) - set(Partner.Kind.values))
        if unknown:
            raise ValidationError({"allowed_kinds": f"Unknown partner kinds: {', '.join(unknown)}."})
        bad = sorted(map(str, bad_country_codes(self.allowed_countries or [])))
        if bad:
            raise ValidationError({"allowed_countries": f"Not two-letter country codes: {', '.join(bad)}."})


class EnrolmentQuerySet(models.QuerySet):
    def live(self) -> EnrolmentQuerySet:
        return self.filter(status__in=Enrolment.LIVE_STATUSES)

    def awaiting_decision(self) -> EnrolmentQuerySet:
        return self.filter(status=Enrolment.Status.SUBMITTED)


class Enrolment(models.Model):
    """A partner's application to a program, and afterwards its membership.

    submitted → approved | rejected | withdrawn; approved → suspended | ended | withdrawn;
    suspended → approved (reinstated) | ended."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"
        ENDED = "ended", "Ended"
        WITHDRAWN = "withdrawn", "Withdrawn"

    LIVE_STATUSES = (Status.SUBMITTED, Status.APPROVED, Status.SUSPENDED)

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="enrolments")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="enrolments")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    submitted_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    eligibility = models.JSONField(default=list, blank=True, help_text="Snapshot of every rule at evaluation.")
    eligibility_passed = models.BooleanField(null=True, help_text="Empty until evaluated.")
    eligibility_evaluated_at = models.DateTimeField(null=True, blank=True)
    eligibility_override_reason = models.TextField(
        blank=True, help_text="Why the application was approved although a rule failed."
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"], history_change_reason_field=models.TextField(null=True))
    objects = EnrolmentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "program"],
                condition=Q(status__in=["submitted", "approved", "suspended"]),
                name="enrolment_one_live_per_partner_program",
                violation_error_message="This partner already has a live application or membership in this program.",
            ),
        ]
        # The queue is read newest first (ORDER BY submitted_at DESC, id DESC), unfiltered, by status, or by
        # status and program: each shape has an index that returns its first page without sorting.
        indexes = [
            models.Index(fields=["-submitted_at", "-id"], name="enrolment_submitted_idx"),
            models.Index(fields=["status", "-submitted_at", "-id"], name="enrolment_status_queue_idx"),
            models.Index(fields=["status", "program", "-submitted_at", "-id"], name="enrolment_queue_idx"),
            models.Index(fields=["program", "status"], name="enrolment_program_status_idx"),
        ]
        permissions = [
            ("decide_enrolment", "Can approve, reject, suspend, reinstate and end enrolments"),
            ("export_enrolment", "Can export enrolments to a spreadsheet"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} → {self.program_id} ({self.status})"

    @property
    def failed_rules(self) -> list[dict]:
        return [rule for rule in self.eligibility or [] if not rule.get("passed")]


class EnrolmentSuspension(models.Model):
    """A stretch of days, in the program's time zone, on which a membership was suspended: metrics and revenue of
    those days earn nothing. Open (``ends_on`` empty) until the enrolment is reinstated or ended."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="suspensions")
    starts_on = models.DateField(help_text="First day that does not count.")
    ends_on = models.DateField(null=True, blank=True, help_text="First day that counts again (empty: still suspended).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrolment"], condition=Q(ends_on__isnull=True),
                                    name="enrolment_one_open_suspension"),
        ]
        indexes = [models.Index(fields=["enrolment", "starts_on"], name="enrolment_suspension_idx")]

    def __str__(self) -> str:
        return f"suspended from {self.starts_on} to {self.ends_on or '…'}"


# --- brand matching -------------------------------------------------------------------------------

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
        return f"{self.user_id} in {self.brand_id} ({self.role})"

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
    min_engagement_rate = models.DecimalField(max_digits=7, decimal_places=2, default=0)
    min_avg_views = models.PositiveBigIntegerField(default=0)
    deliverables = models.TextField(blank=True, max_length=CAMPAIGN_DELIVERABLES_MAX)
    starts_on = models.DateField()
    ends_on = models.DateField()
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

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "partner"], name="invitation_one_per_campaign_partner",
                                    violation_error_message="This creator was already invited to this campaign."),
            models.CheckConstraint(condition=Q(offered_fee_minor__gte=0), name="invitation_fee_not_negative"),
            length_at_most("message", INVITATION_MESSAGE_MAX, "invitation_message_length"),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="invitation_expiry_idx")]

    def __str__(self) -> str:
        return f"invitation {self.pk}"


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
        return f"shortlist entry {self.pk}"


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
