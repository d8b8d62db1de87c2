"""Data in: daily metrics (list, spreadsheet import and export); their bulk uploads are ingestion's
(ingestion.admin)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from core.admin import count_column
from ingestion import guards
from ingestion.admin_mixins import PartnerDayInputAdmin
from ingestion.models import ImportJob
from partnerships.models import DailyMetric
from partnerships.resources.metrics import DailyMetricResource


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
