"""Payout runs: the list, the review page, and its buttons (computing, approving, paying, cancelling, exports)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import ngettext

from core.admin import ReadOnlyAdminMixin, TitledChangelistMixin, money_column, perform_posted_form
from core.display import format_count
from core.money import format_money
from core.two_factor.refusal import refuse_without_second_factor, warn_second_factor_needed
from partnerships.models import Program
from payouts import selectors, transitions
from payouts.admin.forms import (
    ComputeForm,
    PayForm,
    cancel_form,
)
from payouts.admin.review import (
    CANNOT_APPROVE,
    NO_MAKERS,
    RUN_STALE_BANNER,
    YOU_CANNOT_APPROVE,
    change_from_previous,
    ledger_summary_table,
    reconciliation_table,
)
from payouts.admin.screening import flagged_lines_table
from payouts.admin.what_if import what_if_view
from payouts.exceptions import PayoutsError
from payouts.exports import csv_response
from payouts.models import (
    PayoutRun,
    ScreeningFlag,
)
from payouts.reconciliation import payment_file_summary, run_reconciliation
from payouts.services import batches as batch_services
from payouts.services import runs as run_services
from payouts.services import screening as screening_services
from payouts.services import settlement
from payouts.transitions import APPROVE_PERMISSION, PAY_PERMISSION

SCREENING_PENDING = ("Screening flagged {lines} awaiting review: a partnership manager holds or clears each "
                     "(below) before the run can be approved.")
SCREENING_ACTIONS = {
    "hold": ("Hold the line", "A held line is not paid when the run is approved: its amount stays reserved on the "
                              "partner's balance, and each later run that carries it in flags it again until a "
                              "manager clears it."),
    "clear": ("Clear the line", "The traffic was checked: the line is paid as computed (a held line gets back its "
                                "status)."),
}
BATCH_RAIL_BY_CURRENCY = {"EUR": "sepa", "USD": "ach"}  # the rails' currencies (payouts.payees)


class ScreeningReasonForm(forms.Form):
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
                             help_text="Required: recorded with the decision and kept in the flags' history.")


@admin.register(PayoutRun)
class PayoutRunAdmin(TitledChangelistMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "status", "total", "lines", "payable", "started", "approved_by", "computed_at"]
    date_hierarchy = "month"
    changelist_title = "Payout runs"
    list_filter = ["status", "kind", "program"]
    list_select_related = ["program", "started_by", "approved_by"]
    ordering = ["-month", "program__name"]
    readonly_fields = [
        "program", "month", "kind", "status", "currency", "as_of", "budget", "total", "adjustments", "net",
        "payable", "line_count", "budget_use", "reconciliation", "ledger_summary", "payment_file", "started",
        "started_at", "computed_at", "approved_by", "approved_at", "paid_by", "paid_at", "payment_reference",
        "cancelled_reason", "error", "lines_link",
    ]
    # Totals first (the run's actions are the buttons above them): what a reviewer decides on, then its checks.
    fieldsets = [
        ("Totals", {"fields": ["status", "error", "cancelled_reason", "payable", "total", "adjustments", "net",
                               "budget", "budget_use", "lines_link"]}),
        ("Run", {"fields": ["program", "month", "kind", "currency", "as_of"]}),
        ("Reconciliation", {"fields": ["reconciliation", "ledger_summary", "payment_file"]}),
        ("Who and when", {"fields": ["started", "started_at", "computed_at", "approved_by", "approved_at",
                                     "paid_by", "paid_at", "payment_reference"]}),
    ]
    change_form_template = "admin/payouts/payoutrun/change_form.html"
    change_list_template = "admin/payouts/payoutrun/change_list.html"

    def get_queryset(self, request):
        # Whether screening flagged any line, in the run's own query: a run without flags costs the page nothing more.
        return (super().get_queryset(request).select_related("program", "started_by", "approved_by", "paid_by")
                .annotate(has_screening_flags=Exists(ScreeningFlag.objects.filter(run=OuterRef("pk")))))

    def _money(self, obj, amount):
        return format_money(amount, obj.currency)

    budget = money_column("budget_minor", "budget")
    total = money_column("total_gross_minor", "total gross", ordering="total_gross_minor")
    adjustments = money_column("total_adjustments_minor", "adjustments")
    net = money_column("total_net_minor", "total balance")
    payable = money_column("total_payable_minor", "payable now")

    @admin.display(description="lines", ordering="line_count")
    def lines(self, obj):
        return format_html('<span class="num">{}</span>', format_count(obj.line_count))

    @admin.display(description="started by")
    def started(self, obj):
        return obj.started_by or "the scheduler"

    @admin.display(description="budget used")
    def budget_use(self, obj):
        # What the lines take of the month's budget: a description, not a check (the checks are below).
        if obj.status in (PayoutRun.Status.COMPUTING, PayoutRun.Status.FAILED):
            return "—"
        if obj.program.archetype == Program.Archetype.POOLED_FUND:
            if obj.total_gross_minor == obj.budget_minor:
                return f"lines sum to the budget: {self._money(obj, obj.budget_minor)}"
            return (f"Lines sum to {self._money(obj, obj.total_gross_minor)} of a {self._money(obj, obj.budget_minor)} "
                    f"budget: {self._money(obj, obj.budget_minor - obj.total_gross_minor)} stays in the fund (every "
                    "partner capped, excess returned, or nobody qualified).")
        return (f"lines total {self._money(obj, obj.total_gross_minor)} against "
                f"{self._money(obj, obj.budget_minor)} available")

    @admin.display(description="run ↔ fund ↔ ledger ↔ payment file")
    def reconciliation(self, obj):
        return reconciliation_table(run_reconciliation(obj))

    @admin.display(description="ledger")
    def ledger_summary(self, obj):
        if not obj.spends:
            return "—"
        return ledger_summary_table(obj, selectors.run_ledger_summary(obj))

    @admin.display(description="payment file")
    def payment_file(self, obj):
        if not obj.spends:
            return "—"
        summary = payment_file_summary(obj)
        when = "" if obj.status != PayoutRun.Status.COMPUTED else " (what approving puts in it)"
        return format_html("{} payees · control total {} · hash total {}{}", f"{summary.count:,}",
                           self._money(obj, summary.control_total), summary.hash_total, when)

    @admin.display(description="lines")
    def lines_link(self, obj):
        url = reverse("admin:payouts_earningline_changelist") + f"?run__id__exact={obj.pk}"
        return format_html('<a href="{}">Review the {} lines (search by partner)</a>', url,
                           format_count(obj.line_count))

    # --- actions on one run -------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("compute/", view(self.compute_view), name="payouts_payoutrun_compute"),
            path("<int:run_id>/act/<str:action>/", view(self.act_view), name="payouts_payoutrun_act"),
            path("<int:run_id>/payment-file.csv", view(self.payment_file_view), name="payouts_payoutrun_payment_file"),
            path("<int:run_id>/statements.csv", view(self.statements_view), name="payouts_payoutrun_statements"),
            path("<int:run_id>/screening/<int:partner_id>/<str:action>/", view(self.screening_view),
                 name="payouts_payoutrun_screening"),
            path("<int:run_id>/what-if/", view(self.what_if_view), name="payouts_payoutrun_what_if"),
        ] + super().get_urls()

    def review_context(self, request, run: PayoutRun) -> dict:
        """The run's actions this user is offered (the state's, from payouts.transitions, that their permissions
        allow; never Approve to one of the run's makers), its stale reason and its makers."""
        user = request.user
        awaiting_approval = run.kind == PayoutRun.Kind.FINAL and run.status == PayoutRun.Status.COMPUTED
        makers = selectors.run_makers(run) if awaiting_approval else []
        is_maker = any(maker.user_id == user.pk for maker in makers)
        offered = [action for action in transitions.run_actions_allowed(run)
                   if user.has_perm(transitions.RUN_ACTIONS[action].permission)]
        if "pay" in offered and run.payment_items.exists():  # the bank statement settles it (payment batches)
            offered.remove("pay")
        flagged = (selectors.run_flagged_lines(run) if run.kind == PayoutRun.Kind.FINAL
                   and getattr(run, "has_screening_flags", True) else [])
        pending = sum(1 for line in flagged if line.status == ScreeningFlag.Status.PENDING)
        return {
            "screening_table": flagged_lines_table(
                run, flagged, can_review=awaiting_approval and user.has_perm(screening_services.REVIEW_PERMISSION)),
            "screening_note": SCREENING_PENDING.format(
                lines=ngettext("%(count)d line", "%(count)d lines", pending) % {"count": pending})
            if pending and awaiting_approval else "",
            "run_actions": [action for action in offered if not (action == "approve" and is_maker)],
            "stale_banner": RUN_STALE_BANNER.format(reason=run.stale_reason)
            if run.stale_reason and run.status == PayoutRun.Status.COMPUTED else "",
            "makers_note": (CANNOT_APPROVE.format(makers=", ".join(
                f"{maker.username} ({'; '.join(maker.roles)})" for maker in makers)) if makers else NO_MAKERS)
            if awaiting_approval else "",
            "you_cannot_approve": YOU_CANNOT_APPROVE if is_maker and "approve" in offered else "",
            "can_export": user.has_perm(PAY_PERMISSION),
            "can_what_if": awaiting_approval and user.has_perm(APPROVE_PERMISSION),
            "has_payment_file": run.status in (PayoutRun.Status.APPROVED, PayoutRun.Status.PAID),
            "batch_create_url": self.batch_create_url(run) if run.status == PayoutRun.Status.APPROVED
            and user.has_perm(batch_services.CREATE_PERMISSION) else "",
        }

    @staticmethod
    def batch_create_url(run: PayoutRun) -> str:
        """The payment batch page showing what a batch in the run's currency would pay now (its usual rail)."""
        rail = BATCH_RAIL_BY_CURRENCY.get(run.currency, "other")
        return f"{reverse('admin:payouts_paymentbatch_create')}?{urlencode({'currency': run.currency, 'rail': rail})}"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:  # the run as the page loaded it (with its program and users): no second read
            context.update(self.review_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def compute_view(self, request):
        form = ComputeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            program, month = form.cleaned_data["program"], form.cleaned_data["month"].replace(day=1)
            try:
                run = run_services.payout_run_request(program_id=program.pk, month=month, actor=request.user)
            except PayoutsError as exc:
                form.add_error(None, str(exc))
            else:
                level = messages.ERROR if run.status == PayoutRun.Status.FAILED else messages.SUCCESS
                self.message_user(request, f"{run}: {run.get_status_display()}. {run.error}", level)
                return HttpResponseRedirect(reverse("admin:payouts_payoutrun_change", args=[run.pk]))
        return TemplateResponse(request, "admin/payouts/payoutrun/action.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
            "title": "Compute a program's month", "submit": "Compute",
            "intro": "Opens the month's run and computes it on a worker (at once in local mode); the run's page shows "
                     "its status. A run already computed is shown as is. The scheduler does this on the 1st.",
        })

    ACTIONS = {
        "approve": (None, "Approve", "Approving posts every line's amount to the partners' balances in the ledger "
                                     "and puts the payable balances into payment. You cannot approve a run you "
                                     "started, asked to compute again, or put an adjustment or term change into."),
        "pay": (PayForm, "Mark paid", "Export the payment file first and pay it; then record the bank's reference "
                                      "here. This posts the payments to the ledger."),
        "cancel": (cancel_form, "Cancel run", "The run stays for the record; the month can be computed again."),
        "recompute": (None, "Compute again", "Computes the run again: completes a run left computing by a stopped "
                                             "worker, retries a failed one, or brings a stale run up to date with "
                                             "its inputs. Asking makes you one of its makers: you cannot approve it."),
    }
    PAYING_ACTIONS = ("approve", "pay")  # their confirmation shows what is to be paid
    # Money actions: refused (nothing done) unless this session verified a code (core.second_factor).
    SECOND_FACTOR_ACTIONS = {"approve": "Approving a run", "pay": "Marking a run paid"}

    def payment_context(self, run: PayoutRun) -> dict:
        """What approving or marking paid pays: the payment file's total and payees, and the change from the
        program's previous approved or paid month."""
        summary = payment_file_summary(run)
        return {"to_pay": format_money(summary.control_total, run.currency), "payees": f"{summary.count:,}",
                "change": change_from_previous(run, summary.control_total)}

    def act_view(self, request, run_id: int, action: str):
        run = get_object_or_404(PayoutRun.objects.select_related("program", "started_by"), pk=run_id)
        change_url = reverse("admin:payouts_payoutrun_change", args=[run.pk])
        if action not in self.ACTIONS:
            self.message_user(request, f"Unknown action “{action}”.", messages.ERROR)
            return HttpResponseRedirect(change_url)
        form_class, label, intro = self.ACTIONS[action]
        if action in self.SECOND_FACTOR_ACTIONS:
            here = reverse("admin:payouts_payoutrun_act", args=[run.pk, action])
            if request.method == "POST":
                refused = refuse_without_second_factor(request, self.SECOND_FACTOR_ACTIONS[action], return_to=here)
                if refused is not None:
                    return refused
            else:
                warn_second_factor_needed(request, self.SECOND_FACTOR_ACTIONS[action], return_to=here)
        form = form_class(request.POST or None) if form_class else forms.Form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                if action == "approve":
                    settlement.payout_run_approve(run_id=run.pk, actor=request.user)
                elif action == "pay":
                    settlement.payout_run_mark_paid(run_id=run.pk, actor=request.user,
                                                  reference=form.cleaned_data["reference"])
                elif action == "cancel":
                    settlement.payout_run_cancel(run_id=run.pk, actor=request.user, reason=form.cleaned_data["reason"])
                else:
                    run = run_services.payout_run_recompute(run_id=run.pk, actor=request.user)
            except PayoutsError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"{run}: {label.lower()} done.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        return TemplateResponse(request, "admin/payouts/payoutrun/action.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form, "run": run,
            "title": f"{label}: {run}", "submit": label, "intro": intro,
            # Said before the click; the service refuses it again under the run's lock whatever the page said.
            "refusal": transitions.run_action_refusal(run, action) if request.method == "GET" else "",
            **(self.payment_context(run) if action in self.PAYING_ACTIONS else {}),
        })

    def screening_view(self, request, run_id: int, partner_id: int, action: str):
        """A partnership manager's hold or clear of a flagged line, with a reason (payouts.services.screening)."""
        run = get_object_or_404(PayoutRun.objects.select_related("program", "started_by"), pk=run_id)
        change_url = reverse("admin:payouts_payoutrun_change", args=[run.pk])
        if action not in SCREENING_ACTIONS:
            self.message_user(request, f"Unknown action “{action}”.", messages.ERROR)
            return HttpResponseRedirect(change_url)
        label, intro = SCREENING_ACTIONS[action]
        form = ScreeningReasonForm(request.POST or None)
        service = (screening_services.screening_line_hold if action == "hold"
                   else screening_services.screening_line_clear)
        done = perform_posted_form(request, form, lambda data: service(
            run_id=run.pk, partner_id=partner_id, actor=request.user, reason=data["reason"]), refusal=PayoutsError,
            success=f"Partner {partner_id} in {run}: {label.lower()} done.", redirect_to=change_url)
        if done is not None:
            return done
        return TemplateResponse(request, "admin/payouts/payoutrun/action.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form, "run": run,
            "title": f"{label}: partner {partner_id} in {run}", "submit": label, "intro": intro,
        })

    def what_if_view(self, request, run_id: int):
        """Other terms tried on a computed run, nothing saved (payouts.admin.what_if)."""
        return what_if_view(self, request, run_id)

    def _export_allowed(self, request) -> bool:
        if not request.user.has_perm(PAY_PERMISSION):
            self.message_user(request, "Exports need the permission to pay runs.", messages.ERROR)
            return False
        return True

    def payment_file_view(self, request, run_id: int):
        run = get_object_or_404(PayoutRun.objects.select_related("program"), pk=run_id)
        change_url = reverse("admin:payouts_payoutrun_change", args=[run.pk])
        if not self._export_allowed(request):
            return HttpResponseRedirect(change_url)
        try:
            rows = selectors.payment_rows(run)
        except PayoutsError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(change_url)
        return csv_response(f"payments-{run.program.slug}-{run.month:%Y-%m}.csv", selectors.PAYMENT_HEADER, rows)

    def statements_view(self, request, run_id: int):
        run = get_object_or_404(PayoutRun.objects.select_related("program"), pk=run_id)
        if not self._export_allowed(request):
            return HttpResponseRedirect(reverse("admin:payouts_payoutrun_change", args=[run.pk]))
        return csv_response(f"statements-{run.program.slug}-{run.month:%Y-%m}.csv", selectors.STATEMENT_HEADER,
                            selectors.run_statement_rows(run))
