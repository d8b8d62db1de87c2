from __future__ import annotations

from django.contrib import admin

from partnerships.admin.common import LargeTableAdminMixin
from partnerships.models import DailyMetric


@admin.register(DailyMetric)
class DailyMetricAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["partner", "day", "views", "qualified_views", "likes", "comments", "shares", "followers",
                    "posts"]
    list_select_related = ["partner"]
    raw_id_fields = ["partner"]
    search_fields = ["=partner__handle"]
    search_help_text = "Exact partner handle"
    # The newest rows first by primary key: an index scan, where ordering by day would sort millions of rows.
    ordering = ["-id"]
