"""What the formulas read: ad revenue (spreadsheet and bulk upload) and videos."""

from __future__ import annotations

from django.contrib import admin

from core.admin import LargeTableAdminMixin
from core.money import format_money
from ingestion import guards
from ingestion.admin_mixins import PartnerDayInputAdmin
from ingestion.models import ImportJob
from payouts.closed_months import AdRevenueAdminForm
from payouts.models import (
    AdRevenue,
    Video,
)
from payouts.resources import AdRevenueResource


@admin.register(AdRevenue)
class AdRevenueAdmin(PartnerDayInputAdmin):
    form = AdRevenueAdminForm
    period_input = guards.AD_REVENUE
    bulk_upload_kind = ImportJob.Kind.AD_REVENUE
    list_display = ["partner", "day", "amount", "currency"]
    resource_classes = [AdRevenueResource]  # import and export (permissions import_/export_adrevenue)

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
