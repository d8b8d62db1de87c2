"""Programs and the applications to them (enrolments), with the days a membership was suspended."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core.validators import CURRENCY_CODE_VALIDATOR, bad_country_codes
from partnerships.models.partners import Partner


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (for example Europe/Paris).")


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
        return f"@{self.partner.handle} → {self.program.name}"

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
