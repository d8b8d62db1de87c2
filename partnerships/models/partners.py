"""Partners, their categories and the metrics they are judged on (daily rows and the 30-day roll-up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core.validators import COUNTRY_CODE_VALIDATOR, DAILY_COUNT_VALIDATORS, HANDLE_VALIDATOR
from partnerships.models.rollups import DailyMetricQuerySet, daily_metrics_written
from partnerships.services.rollups import partner_days_of


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
    # No figure is indexed (migrations 0026 and 0027): every refresh rewrites them, and an index of any of them would
    # be written again for every changed partner while nothing needs it (brand search reads MarketplaceCreator's
    # indexes, the admin sorts a left join, matching ranks every candidate). Without them, and with half of each page
    # free on PostgreSQL, the refresh after a load updates each row in place (a heap-only update).
    followers = models.BigIntegerField(default=0)
    views_30d = models.BigIntegerField(default=0)
    qualified_views_30d = models.BigIntegerField(default=0)
    likes_30d = models.BigIntegerField(default=0)
    comments_30d = models.BigIntegerField(default=0)
    shares_30d = models.BigIntegerField(default=0)
    posts_30d = models.IntegerField(default=0)
    avg_views_per_post = models.BigIntegerField(default=0)
    engagement_rate = models.DecimalField(
        max_digits=7, decimal_places=2, default=0,
        help_text="(likes + comments + shares) / views, in percent."
    )
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "partner statistics"

    def __str__(self) -> str:
        return f"statistics of @{self.partner.handle} as of {self.as_of:%Y-%m-%d}"


class DailyMetric(models.Model):
    """One partner's figures for one day, as the data pipeline delivers them. Every write keeps the monthly
    rollups (partnerships.models.rollups): the ORM's through save/delete and DailyMetricQuerySet, the bulk merge
    through partnerships.services.rollups. On PostgreSQL the table is partitioned by month (migration 0021; the
    database's primary key is (id, day), Django's stays id); partnerships.services.partitions makes months ahead and
    archives old ones."""

    # Checked once per statement on PostgreSQL (migration 0025), not by a foreign key row by row at commit.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="daily_metrics", db_constraint=False)
    day = models.DateField()
    views = models.PositiveBigIntegerField(default=0, validators=DAILY_COUNT_VALIDATORS)
    qualified_views = models.PositiveBigIntegerField(default=0, validators=DAILY_COUNT_VALIDATORS)
    likes = models.PositiveBigIntegerField(default=0, validators=DAILY_COUNT_VALIDATORS)
    comments = models.PositiveBigIntegerField(default=0, validators=DAILY_COUNT_VALIDATORS)
    shares = models.PositiveBigIntegerField(default=0, validators=DAILY_COUNT_VALIDATORS)
    followers = models.PositiveBigIntegerField(default=0, validators=DAILY_COUNT_VALIDATORS,
                                                help_text="Follower count at the end of the day.")
    posts = models.PositiveIntegerField(default=0, help_text="Posts published that day.")

    objects = DailyMetricQuerySet.as_manager()

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
        return f"@{self.partner.handle} on {self.day:%Y-%m-%d}"

    # The ORM's single-row writes keep the partner-month's rollup and store the day's change for the statistics
    # refresh, in the same transaction (no signal: the queryset's bulk writes need the same hook, and a signal is
    # easy to miss when reading the model).
    def save(self, *args: Any, **kwargs: Any) -> None:
        stored = DailyMetric.objects.filter(pk=self.pk).values_list("partner_id", "day") if self.pk else []
        with daily_metrics_written(stored) as touched:
            super().save(*args, **kwargs)
            touched.update(partner_days_of([(self.partner_id, self.day)]))

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with daily_metrics_written([(self.partner_id, self.day)]):
            return super().delete(*args, **kwargs)
