"""Data in: daily metrics (list, spreadsheet import and export); their bulk uploads are ingestion's
(ingestion.admin)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from core.admin import count_column
from ingestion import guards
from ingestion.admin_mixins import PartnerDayInputAdmin
from ingestion.models import ImportJob
from partnerships.models import DailyMetric
from partnerships.resources.metrics import DailyMetricResource
from partnerships.services import partitions


class DailyMetricForm(guards.ClosedPeriodFormMixin, forms.ModelForm):
    """A month closed for payouts is not edited here either (ingestion.guards)."""

    period_input = guards.DAILY_METRICS

    class Meta:
        model = DailyMetric
        fields = ["partner", "day", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]


@admin.register(DailyMetric)
class DailyMetricAdmin(PartnerDayInputAdmin):
    form = DailyMetricForm
    period_input = guards.DAILY_METRICS
    bulk_upload_kind = ImportJob.Kind.METRICS
    list_display = ["partner", "day", "views_count", "qualified_views_count", "likes_count", "comments_count",
                    "shares_count", "followers_count", "posts_count"]
    views_count = count_column("views", "views", ordering="views")
    qualified_views_count = count_column("qualified_views", "qualified views", ordering="qualified_views")
    likes_count = count_column("likes", "likes", ordering="likes")
    comments_count = count_column("comments", "comments", ordering="comments")
    shares_count = count_column("shares", "shares", ordering="shares")
    followers_count = count_column("followers", "followers", ordering="followers")
    posts_count = count_column("posts", "posts", ordering="posts")
    resource_classes = [DailyMetricResource]

    def get_urls(self):
        view = self.admin_site.admin_view(self.storage_view)
        return [path("storage/", view, name="partnerships_dailymetric_storage"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "storage_url": reverse("admin:partnerships_dailymetric_storage")}
        return super().changelist_view(request, extra_context)

    def storage_view(self, request):
        """Where the months of daily metrics are (partitions, the default partition, the archive) and what the
        daily beat tasks will do with each (partnerships.services.partitions). Read-only: creating and archiving
        stay with the beat tasks and ``manage.py metric_partitions``."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        months = partitions.metric_storage_overview()
        return TemplateResponse(request, "admin/partnerships/dailymetric/storage.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "Daily metric storage",
            "partitioned": partitions.partitioned(), "months": months,
            "months_ahead": settings.METRIC_PARTITION_MONTHS_AHEAD,
            "retention_months": settings.METRIC_RETENTION_MONTHS,
            "needs": partitions.metric_days_needed(timezone.localdate()),
            "archive_schema": partitions.ARCHIVE_SCHEMA,
        })
