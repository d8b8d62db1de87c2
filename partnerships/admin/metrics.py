"""Data in: daily metrics (list, spreadsheet import and export); their bulk uploads are ingestion's
(ingestion.admin)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from core.admin import LargeTableAdminMixin
from core.importexport import SpreadsheetImportExportMixin
from ingestion import guards
from ingestion.admin_mixins import BulkUploadLinkMixin, ClosedPeriodAdminMixin
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
class DailyMetricAdmin(BulkUploadLinkMixin, ClosedPeriodAdminMixin, SpreadsheetImportExportMixin, LargeTableAdminMixin,
                       admin.ModelAdmin):
    form = DailyMetricForm
    period_input = guards.DAILY_METRICS
    bulk_upload_kind = ImportJob.Kind.METRICS
    list_display = ["partner", "day", "views", "qualified_views", "likes", "comments", "shares", "followers",
                    "posts"]
    list_select_related = ["partner"]
    raw_id_fields = ["partner"]
    search_fields = ["=partner__handle"]
    search_help_text = "Exact partner handle"
    # The newest rows first by primary key: an index scan, where ordering by day would sort millions of rows.
    ordering = ["-id"]
    resource_classes = [DailyMetricResource]
    skip_admin_log = True  # a file of 50,000 rows is one import, not 50,000 log entries
    import_export_change_list_template = "admin/partnerships/bulk_upload_change_list.html"
