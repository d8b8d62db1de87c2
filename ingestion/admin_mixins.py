"""Admin mixins for the tables ingestion loads: the link to a kind's bulk upload, and the admin side of period
guards (inputs whose closed months must not change from the admin either)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from core.admin import LargeTableAdminMixin
from core.importexport import SpreadsheetImportExportMixin
from ingestion import guards
from ingestion.registry import may_load


class BulkUploadLinkMixin:
    """For the admin of a table a kind of ingestion loads: its list links to the kind's upload page, for those who
    may load that kind (the change list template shows ``bulk_upload_url``)."""

    bulk_upload_kind = ""

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if may_load(request.user, self.bulk_upload_kind):
            extra_context["bulk_upload_url"] = reverse("admin:ingestion_importjob_upload",
                                                       args=[self.bulk_upload_kind])
        return super().changelist_view(request, extra_context)


class ClosedPeriodAdminMixin:
    """For the admin of an input that period guards watch (ingestion.guards), with a form built on
    ClosedPeriodFormMixin: the form learns who edits (a stale run's reason names them), a row of a closed month
    cannot be deleted (alone or with the bulk action, which asks has_delete_permission for each row), and a
    deletion is told to the guards like any other change."""

    period_input = ""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user  # a class made for this request
        return form

    def has_delete_permission(self, request, obj=None):
        if obj is not None and guards.closed_reason(input=self.period_input, partner_id=obj.partner_id, day=obj.day,
                                                    currency=getattr(obj, "currency", None)):
            return False  # a closed month's figures are what its run paid on
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        guards.hold_open_months()
        pairs = [(obj.partner_id, obj.day)]
        super().delete_model(request, obj)
        self._deleted(request, pairs)

    def delete_queryset(self, request, queryset):
        guards.hold_open_months()
        pairs = list(queryset.values_list("partner_id", "day"))
        super().delete_queryset(request, queryset)
        self._deleted(request, pairs)

    def _deleted(self, request, pairs) -> None:
        months = guards.partner_months(pairs)
        if months:
            guards.period_inputs_loaded(guards.LoadedInputs(
                input=self.period_input, partner_months=months, first_day=min(m for _, m in months),
                last_day=max(m for _, m in months), rows=len(pairs), loaded_on=timezone.localdate(), verb="deleted",
                source=guards.source_label(what="admin", user=request.user)))


class PartnerDayInputAdmin(BulkUploadLinkMixin, ClosedPeriodAdminMixin, SpreadsheetImportExportMixin,
                           LargeTableAdminMixin, admin.ModelAdmin):
    """The admin of a table of rows keyed by partner and day that a kind of ingestion loads (daily metrics, ad
    revenue): a large list found by exact handle, newest rows first, spreadsheet import and export, a link to the
    kind's bulk upload, and closed months that cannot change. Subclasses name the kind, the guard input, the
    form, the resource and the columns."""

    list_select_related = ["partner"]
    raw_id_fields = ["partner"]
    search_fields = ["=partner__handle"]
    search_help_text = "Exact partner handle"
    # The newest rows first by primary key: an index scan, where ordering by day would sort millions of rows.
    ordering = ["-id"]
    skip_admin_log = True  # a file of 50,000 rows is one import, not 50,000 log entries
    import_export_change_list_template = "admin/ingestion/bulk_upload_change_list.html"
