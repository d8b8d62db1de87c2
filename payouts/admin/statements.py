"""Bank statements and status reports: the upload page (a second factor, a bounded file; camt.053, camt.054 or
pain.002) and each import's result page: paid, returned, failed and, in red, what matched nothing and waits for a
person."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdminMixin
from core.display import money_text
from core.second_factor import require_second_factor
from payouts.admin.batch_forms import StatementUploadForm, statement_max_bytes
from payouts.admin.review import RED
from payouts.exceptions import StatementAlreadyImported, StatementRefused
from payouts.models import StatementImport, StatementLine
from payouts.services.statements import IMPORT_PERMISSION, statement_import

IMPORT_ACTION = "Importing a bank statement"


@admin.register(StatementImport)
class StatementImportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["identifier", "kind", "file_name", "imported_by", "imported_at", "entry_count", "paid_count",
                    "returned_count", "failed_count", "unmatched"]
    list_select_related = ["imported_by"]
    ordering = ["-imported_at"]
    date_hierarchy = "imported_at"
    readonly_fields = ["identifier", "kind", "file_name", "sha256", "imported_by", "imported_at", "entry_count",
                       "paid_count", "returned_count", "failed_count", "unmatched", "entries"]

    @admin.display(description="unmatched", ordering="unmatched_count")
    def unmatched(self, obj):
        if obj.unmatched_count:
            return format_html('<strong style="{}">{}</strong>', RED, obj.unmatched_count)
        return 0

    @admin.display(description="entries")
    def entries(self, obj):
        lines = obj.lines.select_related("payment").order_by("position")[:2000]
        rows = format_html_join("", '<tr class="{}"{}><td>{}</td><td>{}</td><td class="money">{}</td><td>{}</td>'
                                    "<td>{}</td><td>{}</td><td>{}</td></tr>", (
            (f"entry-{line.result}", format_html(' style="{}"', RED) if line.result == StatementLine.Result.UNMATCHED
             else "", line.position, line.end_to_end_id or "—", money_text(line.amount_minor, line.currency)
             if line.currency else line.amount_minor, line.outcome, line.get_result_display(), line.reason_code,
             line.message) for line in lines))
        return format_html('<table class="statement-entries"><thead><tr><th>#</th><th>End-to-end id</th>'
                           "<th>Amount</th><th>Bank says</th><th>Result</th><th>Reason code</th><th>Detail</th>"
                           "</tr></thead><tbody>{}</tbody></table>", rows)

    def get_urls(self):
        return [path("upload/", self.admin_site.admin_view(self.upload_view), name="payouts_statementimport_upload"),
                *super().get_urls()]

    def upload_view(self, request):
        require_second_factor(request.user, IMPORT_ACTION)
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        form = StatementUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["statement"]
            try:
                imported = statement_import(data=upload.read(statement_max_bytes() + 1), file_name=upload.name,
                                            actor=request.user)
            except StatementAlreadyImported as exc:
                self.message_user(request, str(exc), messages.WARNING)
                return HttpResponseRedirect(reverse("admin:payouts_statementimport_change", args=[exc.statement_id]))
            except StatementRefused as exc:
                form.add_error("statement", str(exc))
            else:
                level = messages.WARNING if imported.unmatched_count else messages.SUCCESS
                failed = f"{imported.failed_count} failed, " if imported.kind == "pain.002" else ""
                self.message_user(request, f"{imported}: {imported.paid_count} paid, {imported.returned_count} "
                                           f"returned, {failed}{imported.unmatched_count} unmatched.", level)
                return HttpResponseRedirect(reverse("admin:payouts_statementimport_change", args=[imported.pk]))
        return TemplateResponse(request, "admin/payouts/paymentbatch/action.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
            "title": "Upload a bank statement", "submit": "Import",
            "intro": f"A camt.053 statement, a camt.054 notification or a pain.002 status report, at most "
                     f"{statement_max_bytes():,} bytes. Entries are matched to payments by end-to-end id, amount "
                     "and currency (a pain.002 rejection fails its payment); importing the same file again changes "
                     "nothing."})
