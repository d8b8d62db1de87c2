"""What the formulas read: ad revenue (spreadsheet and bulk upload) and videos."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

import payouts.ingest  # noqa: F401 (registers the ad revenue kind of ingestion)
from core.admin import LargeTableAdminMixin
from core.importexport import SpreadsheetImportExportMixin
from core.money import format_money
from partnerships.ingest import guards
from partnerships.ingest.admin_mixins import ClosedPeriodAdminMixin
from partnerships.ingest.jobs import may_load
from partnerships.models import ImportJob
from payouts.closed_months import AdRevenueAdminForm
from payouts.models import (
    AdRevenue,
    Video,
)
from payouts.resources import AdRevenueResource


@admin.register(AdRevenue)
class AdRevenueAdmin(ClosedPeriodAdminMixin, SpreadsheetImportExportMixin, LargeTableAdminMixin, admin.ModelAdmin):
    form = AdRevenueAdminForm
    period_input = guards.AD_REVENUE
    list_display = ["partner", "day", "amount", "currency"]
    list_select_related = ["partner"]
    raw_id_fields = ["partner"]
    search_fields = ["=partner__handle"]
    ordering = ["-id"]
    resource_classes = [AdRevenueResource]  # import and export (permissions import_/export_adrevenue)
    skip_admin_log = True  # a file is one import, not one log entry per row
    import_export_change_list_template = "admin/partnerships/bulk_upload_change_list.html"

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if may_load(request.user, ImportJob.Kind.AD_REVENUE):
            extra_context["bulk_upload_url"] = reverse("admin:partnerships_importjob_upload",
                                                       args=[ImportJob.Kind.AD_REVENUE])
        return super().changelist_view(request, extra_context)

    @admin.display(description="amount")
    def amount(self, obj):
        return format_money(obj.amount_minor, obj.currency)


@admin.register(Video)
class VideoAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["external_id", "partner", "posted_at", "duration_seconds"]
    list_select_related = ["partner"]
    raw_id_fields = ["partner"]
    search_fields = ["=external_id", "=partner__handle"]
    ordering = ["-id"]
