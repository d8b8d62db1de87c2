"""Payment batches: the list (by status, currency, rail), the batch page with its payments (masked accounts) and
who was left out, creating, releasing (a second person, a second factor, the count and control total typed back),
cancelling a draft, downloading its bank files, and its reconciliation page."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdminMixin, money_column, perform_posted_form
from core.money import format_money
from core.second_factor import require_second_factor
from payouts.admin.batch_forms import BatchCancelForm, BatchCreateForm, BatchReleaseForm, PaymentFailedForm
from payouts.admin.review import RED, reconciliation_table
from payouts.batch_reconciliation import batch_reconciliation, payment_rows
from payouts.exceptions import BatchRefused, PayoutsError
from payouts.models import Payment, PaymentBatch, PaymentBatchCreation, PaymentBatchRelease
from payouts.services import batch_jobs
from payouts.services import batches as batch_services
from payouts.services import statements as statement_services

RELEASE_ACTION = "Releasing a payment batch"
FAILED_ACTION = "Recording a failed payment"
PAYMENTS_SHOWN = 500


def _table(head: list[str], rows, row_html: str):
    header = format_html_join("", "<th>{}</th>", ((h,) for h in head))
    return format_html('<table class="batch-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', header,
                       format_html_join("", row_html, rows))


@admin.register(PaymentBatch)
class PaymentBatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "status", "currency", "rail", "payment_count", "control_total", "created_by",
                    "released_by", "released_at"]
    list_filter = ["status", "currency", "rail"]
    list_select_related = ["created_by", "released_by"]
    ordering = ["-pk"]
    readonly_fields = ["currency", "rail", "status", "payment_count", "control_total", "created_by", "created_at",
                       "released_by", "released_at", "closed_at", "cancelled_reason", "actions_links", "release_state",
                       "files_list",
                       "payments_table", "left_out_table"]
    fieldsets = [
        (None, {"fields": ["currency", "rail", "status", "payment_count", "control_total", "release_state",
                           "actions_links"]}),
        ("Who and when", {"fields": ["created_by", "created_at", "released_by", "released_at", "closed_at",
                                     "cancelled_reason"]}),
        ("Bank files", {"fields": ["files_list"]}),
        ("Payments", {"fields": ["payments_table"]}),
        ("Left out of this batch", {"fields": ["left_out_table"]}),
    ]
    change_list_template = "admin/payouts/paymentbatch/change_list.html"

    control_total = money_column("control_total_minor", "control total", ordering="control_total_minor")

    @admin.display(description="actions")
    def actions_links(self, obj):
        links = [(reverse("admin:payouts_paymentbatch_reconciliation", args=[obj.pk]), "Reconciliation")]
        if obj.status == PaymentBatch.Status.DRAFT:
            links = [(reverse("admin:payouts_paymentbatch_release", args=[obj.pk]), "Release…"),
                     (reverse("admin:payouts_paymentbatch_cancel", args=[obj.pk]), "Cancel…"), *links]
        elif obj.status == PaymentBatch.Status.RELEASED:
            links = [(reverse("admin:payouts_paymentbatch_failed", args=[obj.pk]), "Record a failed payment…"),
                     *links]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="release by a worker")
    def release_state(self, obj):
        """A large batch's release asked for in the admin and carried out by a compute worker (batch_jobs)."""
        request = PaymentBatchRelease.objects.select_related("requested_by").filter(batch=obj).first()
        if request is None:
            return "—" if not batch_jobs.releases_in_background(obj) else (
                f"from {batch_jobs.background_from():,} payments a worker releases the batch: asking for the release "
                f"queues it")
        asked = f"asked for by {request.requested_by} at {timezone.localtime(request.requested_at):%Y-%m-%d %H:%M %Z}"
        if request.state == PaymentBatchRelease.State.QUEUED:
            return f"In progress: {asked}; a compute worker writes the files and posts the ledger (reload to follow)."
        finished = f"{timezone.localtime(request.finished_at):%Y-%m-%d %H:%M %Z}" if request.finished_at else ""
        if request.state == PaymentBatchRelease.State.FAILED:
            return format_html('<span style="{}">Failed at {}: {}</span> ({}; the batch is still a draft: fix the '
                               'cause and release it again)', RED, finished, request.error, asked)
        return f"Released by a worker at {finished} ({asked})."

    @admin.display(description="files")
    def files_list(self, obj):
        files = list(obj.files.order_by("name"))
        if not files:
            return "written when the batch is released"
        return _table(["File", "Payments", "Control total", "SHA-256"], (
            (reverse("admin:payouts_paymentbatch_file", args=[obj.pk, f.pk]), f.name, f"{f.payments:,}",
             format_money(f.control_total_minor, obj.currency), f.sha256) for f in files),
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td class="money">{}</td><td><code>{}</code></td></tr>')

    @admin.display(description="payments")
    def payments_table(self, obj):
        payments = obj.payments.select_related("partner").order_by("pk")[:PAYMENTS_SHOWN]
        return _table(["End-to-end id", "Partner", "Account", "Amount", "Status", "Reason"], (
            (format_html(' style="{}"', RED) if p.status in ("returned", "failed") else "", p.end_to_end_id,
             p.partner, p.masked_account, format_money(p.amount_minor, p.currency), p.get_status_display(),
             p.reason_code and f"{p.reason_code}: {p.reason}" or "") for p in payments),
            '<tr{}><td>{}</td><td>{}</td><td>{}</td><td class="money">{}</td><td>{}</td><td>{}</td></tr>')

    @admin.display(description="left out")
    def left_out_table(self, obj):
        rows = obj.exclusions.select_related("partner").order_by("partner_id")[:PAYMENTS_SHOWN]
        return _table(["Partner", "Amount waiting", "Why"], (
            (x.partner, format_money(x.amount_minor, obj.currency), x.reason) for x in rows),
            '<tr><td>{}</td><td class="money">{}</td><td>{}</td></tr>')

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("create/", view(self.create_view), name="payouts_paymentbatch_create"),
            path("<int:batch_id>/release/", view(self.release_view), name="payouts_paymentbatch_release"),
            path("<int:batch_id>/cancel/", view(self.cancel_view), name="payouts_paymentbatch_cancel"),
            path("<int:batch_id>/failed/", view(self.failed_view), name="payouts_paymentbatch_failed"),
            path("<int:batch_id>/files/<int:file_id>/", view(self.file_view), name="payouts_paymentbatch_file"),
            path("<int:batch_id>/reconciliation/", view(self.reconciliation_view),
                 name="payouts_paymentbatch_reconciliation"),
        ] + super().get_urls()

    def _page(self, request, title: str, **context):
        return TemplateResponse(request, "admin/payouts/paymentbatch/action.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": title, **context})

    def _require(self, request, permission: str) -> None:
        if not request.user.has_perm(permission):
            raise PermissionDenied

    def create_view(self, request):
        self._require(request, batch_services.CREATE_PERMISSION)
        form = BatchCreateForm(request.POST or request.GET or None)
        preview = None
        if form.is_valid():
            try:
                preview = batch_services.batch_preview(currency=form.cleaned_data["currency"],
                                                       rail=form.cleaned_data["rail"])
            except PayoutsError as exc:
                form.add_error(None, str(exc))
        if request.method == "POST" and preview is not None and "create" in request.POST:
            # Create exactly what the preview showed; another currency or rail typed since is previewed first.
            seen = form.previewed_figures(preview.currency, preview.rail)
            if seen is None:
                self.message_user(request, "The currency or rail changed since the preview: check what this one pays, "
                                           "then create.", messages.WARNING)
            else:
                if batch_jobs.in_background(seen[0]):
                    return self._create_in_background(request, form, preview, seen)
                try:
                    batch = batch_services.batch_create(currency=preview.currency, rail=preview.rail,
                                                        actor=request.user, expected=seen)
                except PayoutsError as exc:
                    form.add_error(None, str(exc))
                    preview = batch_services.batch_preview(currency=preview.currency, rail=preview.rail)
                else:
                    self.message_user(request, f"{batch} created: {batch.payment_count:,} payments, "
                                               f"{format_money(batch.control_total_minor, batch.currency)}. A second "
                                               "finance approver releases it.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:payouts_paymentbatch_change", args=[batch.pk]))
        if preview is not None:  # the form carries what this page shows
            errors = form.non_field_errors()
            form = BatchCreateForm({"currency": preview.currency, "rail": preview.rail, "previewed": preview.key})
            form.is_valid()
            for error in errors:
                form.add_error(None, error)
        body = ""
        if preview is not None:
            left_out = _table(["Partner", "Amount waiting", "Why left out"], (
                (x.partner, format_money(x.amount_minor, preview.currency), x.reason) for x in preview.left_out),
                f'<tr style="{RED}"><td>{{}}</td><td class="money">{{}}</td><td>{{}}</td></tr>'
            ) if preview.left_out else format_html("<p>{}</p>", "Nobody: every partner with money waiting in this "
                                                                "currency has usable bank details on this rail.")
            body = format_html("<p>Creating now pays <strong>{}</strong> payments for <strong>{}</strong>.</p>"
                               "<h3>Left out</h3>{}", f"{preview.payments:,}",
                               format_money(preview.total_minor, preview.currency), left_out)
        return self._page(request, "Create a payment batch", form=form, body=body,
                          submit="Create batch" if preview else "Show what it pays",
                          submit_name="create" if preview else "preview",
                          intro="One payment per partner: the partner's approved runs' payable lines in the currency "
                                "that no other batch covers. Partners without usable bank details are left out, "
                                "with the reason.")

    def _create_in_background(self, request, form, preview, seen: tuple[int, int]):
        """A batch this large is created by a compute worker; the list of batch creations follows it."""
        try:
            batch_jobs.batch_create_request(currency=preview.currency, rail=preview.rail, actor=request.user,
                                            expected=seen)
        except PayoutsError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:payouts_paymentbatch_create"))
        self.message_user(request, f"Creating the {preview.currency} batch of {seen[0]:,} payments is queued: a "
                                   f"compute worker creates it (a minute or more); this list shows when it is done.",
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:payouts_paymentbatchcreation_changelist"))

    def release_view(self, request, batch_id: int):
        require_second_factor(request.user, RELEASE_ACTION)
        self._require(request, batch_services.RELEASE_PERMISSION)
        batch = get_object_or_404(PaymentBatch.objects.select_related("created_by"), pk=batch_id)
        change_url = reverse("admin:payouts_paymentbatch_change", args=[batch.pk])
        form = BatchReleaseForm(request.POST or None, currency=batch.currency)
        background = batch_jobs.releases_in_background(batch)
        release = batch_jobs.batch_release_request if background else batch_services.batch_release
        success = (f"The release of {batch} is queued: a compute worker writes its bank files and posts the ledger "
                   f"(a minute or more for {batch.payment_count:,} payments); the batch page shows when it is done."
                   if background else f"{batch} released: its bank files are ready to download.")
        done = perform_posted_form(request, form, lambda data: release(
            batch_id=batch.pk, actor=request.user, expected_count=data["payments"],
            expected_total_minor=data["control_total"]), refusal=PayoutsError, success=success,
            redirect_to=change_url)
        if done is not None:
            return done
        refusal = ""
        if batch.created_by_id == request.user.pk:
            refusal = f"You created {batch}: another finance approver must release it."
        body = format_html(
            '<table class="batch-confirmation"><tr><th>Payments</th><td class="count">{}</td></tr>'
            '<tr><th>Control total</th><td class="control-total">{}</td></tr><tr><th>Rail</th><td>{}</td></tr>'
            "<tr><th>Created by</th><td>{}</td></tr></table>", f"{batch.payment_count:,}",
            format_money(batch.control_total_minor, batch.currency), batch.get_rail_display(), batch.created_by)
        return self._page(request, f"Release {batch}", form=form, body=body, refusal=refusal, submit="Release",
                          object_url=change_url, object_label=batch,
                          intro="Releasing writes the bank files and marks the payments sent. Check the count and "
                                "control total, then type them back.")

    def cancel_view(self, request, batch_id: int):
        self._require(request, batch_services.CREATE_PERMISSION)
        batch = get_object_or_404(PaymentBatch, pk=batch_id)
        change_url = reverse("admin:payouts_paymentbatch_change", args=[batch.pk])
        form = BatchCancelForm(request.POST or None)
        done = perform_posted_form(request, form, lambda data: batch_services.batch_cancel(
            batch_id=batch.pk, actor=request.user, reason=data["reason"]), refusal=BatchRefused,
            success=f"{batch} cancelled: its lines can go into a new batch.", redirect_to=change_url)
        return done or self._page(request, f"Cancel {batch}", form=form, submit="Cancel batch", object_url=change_url,
                                  object_label=batch, intro="Only a draft batch can be cancelled.")

    def failed_view(self, request, batch_id: int):
        """Record that the bank rejected one sent payment: it fails, its amount goes back to the partner's payable
        balance (payouts.services.statements.payment_mark_failed)."""
        require_second_factor(request.user, FAILED_ACTION)
        self._require(request, statement_services.FAIL_PERMISSION)
        batch = get_object_or_404(PaymentBatch, pk=batch_id)
        change_url = reverse("admin:payouts_paymentbatch_change", args=[batch.pk])
        sent = list(batch.payments.filter(status=Payment.Status.SENT).select_related("partner")
                    .order_by("end_to_end_id")[:PAYMENTS_SHOWN])
        by_id = {p.end_to_end_id: p for p in sent}
        form = PaymentFailedForm(request.POST or None, payments=[
            (p.end_to_end_id, f"{p.end_to_end_id} · {p.partner} · {format_money(p.amount_minor, p.currency)}")
            for p in sent])
        done = perform_posted_form(request, form, lambda data: statement_services.payment_mark_failed(
            payment_id=by_id[data["end_to_end_id"]].pk, reason_code=data["reason_code"], reason=data["reason"],
            actor=request.user), refusal=PayoutsError,
            success="The payment is recorded as failed: its amount is back on the partner's payable balance.",
            redirect_to=change_url)
        return done or self._page(
            request, f"Record a failed payment of {batch}", form=form, submit="Record as failed",
            object_url=change_url, object_label=batch,
            intro="For a payment the bank rejected and never executed (a returned one comes back in a statement). "
                  "Its amount goes back to the partner's payable balance and the next run carries it; a reason "
                  "about the account also blocks the bank details until they are fixed.")

    def file_view(self, request, batch_id: int, file_id: int):
        """A bank file holds full bank details: only those who may release batches download it."""
        self._require(request, batch_services.RELEASE_PERMISSION)
        batch = get_object_or_404(PaymentBatch, pk=batch_id)
        written = get_object_or_404(batch.files, pk=file_id)
        root = (Path(settings.MEDIA_ROOT) / "payment_files").resolve()
        target = (Path(settings.MEDIA_ROOT) / written.path).resolve()
        if root not in target.parents or not target.is_file():
            raise Http404("The file is not on disk.")
        return FileResponse(target.open("rb"), as_attachment=True, filename=written.name)

    def reconciliation_view(self, request, batch_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = get_object_or_404(PaymentBatch, pk=batch_id)
        rows = payment_rows(batch, PAYMENTS_SHOWN)
        money = lambda amount: format_money(amount, batch.currency)  # noqa: E731
        payments = _table(["Payment", "Sent", "Status", "Statement: paid", "Statement: returned",
                           "Unmatched entries"], (
            (format_html(' class="differs" style="{}"', RED) if row.differs else "", row.payment.end_to_end_id,
             money(row.payment.amount_minor), row.payment.get_status_display(), money(row.statement_paid),
             money(row.statement_returned), row.unmatched_entries) for row in rows),
            '<tr{}><td>{}</td><td class="money">{}</td><td>{}</td><td class="money">{}</td><td class="money">{}</td>'
            "<td>{}</td></tr>")
        if batch.status == PaymentBatch.Status.CANCELLED:
            body = format_html("<p>{}</p>", "A cancelled batch pays nothing: its payments were deleted before "
                                            "release and their lines can go into another batch.")
        else:
            body = format_html("{}<h3>Payments</h3>{}", reconciliation_table(batch_reconciliation(batch)), payments)
        change_url = reverse("admin:payouts_paymentbatch_change", args=[batch.pk])
        return self._page(request, f"Reconciliation of {batch}", body=body, object_url=change_url,
                          object_label=batch, intro="Payments sent vs bank files vs statement entries vs ledger.")


@admin.register(PaymentBatchCreation)
class PaymentBatchCreationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Large batches being created by a compute worker (payouts.services.batch_jobs), and how each went."""

    list_display = ["requested_at", "currency", "rail", "expected_count", "expected_total", "requested_by", "state",
                    "created_batch", "finished_at", "error"]
    list_filter = ["state", "currency", "rail"]
    list_select_related = ["requested_by", "batch"]
    ordering = ["-requested_at"]

    expected_total = money_column("expected_total_minor", "total", ordering="expected_total_minor")

    @admin.display(description="batch")
    def created_batch(self, obj):
        if obj.batch_id is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:payouts_paymentbatch_change", args=[obj.batch_id]),
                           obj.batch)
