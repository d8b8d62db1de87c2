"""Earning lines and a partner's monthly statement."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.admin import LargeTableAdminMixin, ReadOnlyAdminMixin, TitledChangelistMixin, money_column
from core.importexport import SpreadsheetExportMixin
from core.money import format_money
from partnerships.models import Partner
from payouts import selectors
from payouts.admin.forfeiture import forfeitable
from payouts.explain import explain_line
from payouts.exports import csv_response
from payouts.models import (
    EarningLine,
    PayoutRun,
)
from payouts.resources import EarningLineResource, StatementResource


class RunFilter(admin.SimpleListFilter):
    """The latest runs, named without a query per run."""

    title = "run"
    parameter_name = "run__id__exact"

    def lookups(self, request, model_admin):
        runs = PayoutRun.objects.select_related("program").order_by("-month", "program__name")[:40]
        return [(str(run.pk), str(run)) for run in runs]

    def queryset(self, request, queryset):
        return queryset.filter(run_id=self.value()) if self.value() else queryset


@admin.register(EarningLine)
class EarningLineAdmin(TitledChangelistMixin, SpreadsheetExportMixin, LargeTableAdminMixin, ReadOnlyAdminMixin,
                       admin.ModelAdmin):
    # Columns that fit at 1440 px with what decides a line visible: withheld, balance and why it is held (and,
    # for a held line of an approved run, the link to forfeit it). The basis, adjustments and carried-in amounts
    # are on the line's page, in its explanation.
    list_display = ["partner", "run", "status", "gross", "withholding", "net", "hold", "statement", "forfeit"]
    changelist_title = "Earning lines"
    list_filter = ["status", "run__program", RunFilter]
    list_select_related = ["partner", "run", "run__program"]
    search_fields = ["=partner__handle"]
    search_help_text = "Exact partner handle"
    ordering = ["-id"]
    readonly_fields = ["explanation"]
    resource_classes = [EarningLineResource, StatementResource]  # export (permission export_earningline)

    gross = money_column("gross_minor", "gross", currency="run.currency", ordering="gross_minor")
    adjustments = money_column("adjustments_minor", "adjustments", currency="run.currency")
    carried_in = money_column("carried_in_minor", "carried in", currency="run.currency")
    withholding = money_column("withholding_minor", "withheld", currency="run.currency")
    net = money_column("net_minor", "balance", currency="run.currency", ordering="net_minor")

    @admin.display(description="hold reason", ordering="hold_reason")
    def hold(self, obj):
        return obj.hold_reason or "—"

    @admin.display(description="statement")
    def statement(self, obj):
        url = reverse("admin:payouts_statement", args=[obj.partner_id, obj.run.month.strftime("%Y-%m")])
        return format_html('<a href="{}">statement</a>', url)

    @admin.display(description="")
    def forfeit(self, obj):
        """A held line of an approved or paid run: the page that forfeits it (which checks permission and reason)."""
        if not forfeitable(obj):
            return ""
        return format_html('<a href="{}">forfeit…</a>', reverse("admin:payouts_forfeiture_line", args=[obj.pk]))

    @admin.display(description="how it was reached")
    def explanation(self, obj):
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}</li>",
                                                          ((step,) for step in explain_line(obj, obj.run))))

    def get_urls(self):
        return [
            path("statement/<int:partner_id>/<str:month>/", self.admin_site.admin_view(self.statement_view),
                 name="payouts_statement"),
        ] + super().get_urls()

    def statement_view(self, request, partner_id: int, month: str):
        if not self.has_view_permission(request):
            raise PermissionDenied  # a statement shows a partner's earnings: those who may see lines only
        partner = get_object_or_404(Partner, pk=partner_id)
        try:
            first = dt.date.fromisoformat(f"{month}-01")
        except ValueError:
            self.message_user(request, f"“{month}” is not a month (use YYYY-MM).", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:payouts_earningline_changelist"))
        statement = selectors.partner_statement(partner, first)
        if request.GET.get("format") == "csv":
            return csv_response(f"statement-{partner.handle}-{month}.csv", selectors.STATEMENT_HEADER,
                                (selectors.statement_row(run, line, steps) for run, line, steps in statement))
        return TemplateResponse(request, "admin/payouts/statement.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "partner": partner, "month": first,
            "title": f"Statement of @{partner.handle}, {first:%B %Y}",
            "entries": [{"run": run, "line": line, "steps": steps,
                         "money": {name: format_money(getattr(line, f"{name}_minor"), run.currency)
                                   for name in ("gross", "adjustments", "carried_in", "withholding", "net")}}
                        for run, line, steps in statement],
        })
