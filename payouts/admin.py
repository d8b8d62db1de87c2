"""Finance's screens: funds and budgets, runs to review, approve and pay, lines, statements and the ledger."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Value, When
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.admin import LargeTableAdminMixin
from core.admin import ReasonForm as DecisionReasonForm
from core.importexport import SpreadsheetExportMixin, SpreadsheetImportExportMixin
from core.money import MAX_MINOR, format_money, format_percent
from core.money_fields import CurrencyChoiceField, MoneyField, MoneyFormMixin, PercentField
from ingestion import guards
from ingestion.admin_mixins import ClosedPeriodAdminMixin
from ingestion.models import ImportJob
from ingestion.registry import may_load
from partnerships.models import Partner, Program
from payouts import configuration, selectors, services, transitions
from payouts.closed_months import AdRevenueAdminForm
from payouts.configuration import (
    FUND_FIELDS,
    FUND_TOTAL_BELOW_SPENT,
    RELEASED_ABOVE_TOTAL,
    RELEASED_BELOW_SPENT,
    TERMS_FIELDS,
    TRANCHE_FIELDS,
    ConfigurationRefused,
    TrancheChange,
)
from payouts.exceptions import ADJUSTMENT_ZERO, PayoutsError
from payouts.explain import explain_line
from payouts.exports import csv_response
from payouts.funds import FundPosition
from payouts.models import (
    Adjustment,
    AdRevenue,
    BudgetTranche,
    EarningLine,
    Fund,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PayoutRun,
    ProgramTerms,
    Video,
)
from payouts.reconciliation import Check, payment_file_summary, run_reconciliation
from payouts.resources import AdRevenueResource, EarningLineResource, StatementResource


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- funds and terms: money configuration, changed through payouts.configuration with a reason ------------------

REASON_HELP = "Kept with this version in the history below, with your name and the time."


def reason_field() -> forms.CharField:
    return forms.CharField(label="Reason for this change", required=True, help_text=REASON_HELP,
                           widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


def _shown(value, name: str, *, money: tuple, percents: tuple, currency: str | None) -> str:
    if value is None or value == "":
        return "—"
    if name in money and currency:
        return format_money(value, currency)
    if name in percents:
        return format_percent(value)
    if isinstance(value, dt.date):
        return f"{value:%Y-%m-%d}"
    return str(value)


def versions_table(versions: list[tuple[str, list]], *, fields: dict[str, tuple], money: tuple = (),
                   percents: tuple = (), currency: str | None = None):
    """Every version, newest first: when, who, the reason, and old → new of each field that changed.
    `versions` is [(label, historical records of one object, oldest first)]; `fields` maps a label to field names."""
    rows = []
    for label, records in versions:
        names = fields[label]
        previous = None
        for record in records:
            if record.history_type == "-":
                changes = [("", "deleted", "")]
            else:
                changes = [(name.removesuffix("_minor").replace("_", " "),
                            _shown(getattr(previous, name) if previous is not None else None, name, money=money,
                                   percents=percents, currency=currency),
                            _shown(getattr(record, name), name, money=money, percents=percents, currency=currency))
                           for name in names
                           if previous is None or getattr(previous, name) != getattr(record, name)]
            previous = record
            rows.append((record.history_date, record.history_user, record.history_change_reason, label,
                         record.history_type, changes))
    if not rows:
        return "No version yet."
    rows.sort(key=lambda row: row[0], reverse=True)
    kinds = {"+": "created", "~": "changed", "-": "deleted"}
    body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>", (
        (f"{when:%Y-%m-%d %H:%M}", user.get_username() if user else "—", reason or "—", label, kinds[kind],
         format_html_join(mark_safe("<br>"), "{}: {} → {}", changes) if kind != "-" else "")
        for when, user, reason, label, kind, changes in rows))
    return format_html('<table class="versions"><thead><tr><th>When</th><th>Who</th><th>Reason</th><th>What</th>'
                       "<th>Old → new</th></tr></thead><tbody>{}</tbody></table>", body)


class ShowsInitialMixin:
    """Each field posts back the value the person saw (Django's hidden initial), so the form's changed data is what
    they changed, not what differs from the row now: a save leaves alone a field someone else changed meanwhile."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "change_reason":
                field.show_hidden_initial = True


class ConfigurationAdminMixin:
    """Saves go through payouts.configuration; a refusal found only under the row lock (say a run spent more between
    showing the form and saving it) is reported on the page and nothing is written."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ConfigurationRefused as exc:
            self.message_user(request, f"Nothing was saved: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *(["program"] if obj is not None else [])]

    def save_model(self, request, obj, form, change):
        pass  # saved in save_related, with the inlines, by one service call

    def save_formset(self, request, form, formset, change):
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def construct_change_message(self, request, form, formsets, add=False):
        # The reason is not a field of the fund or terms: it is kept with the version, not listed as changed.
        message = super().construct_change_message(request, form, formsets, add)
        reason_label = str(form.fields["change_reason"].label)
        for entry in message:
            if "changed" in entry:
                entry["changed"]["fields"] = [name for name in entry["changed"]["fields"] if name != reason_label]
        return [entry for entry in message if "changed" not in entry or entry["changed"]["fields"]]


class FundForm(ShowsInitialMixin, MoneyFormMixin, forms.ModelForm):
    currency = CurrencyChoiceField()
    total_minor = MoneyField(label="Total", minimum=0, help_text="The whole fund.")
    change_reason = reason_field()

    class Meta:
        model = Fund
        fields = ["program", "name", "currency", "total_minor", "rollover_unspent"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].keep(self.instance.currency)

    def money_currency(self, data):
        return data.get("currency") or self.instance.currency or None

    def clean(self):
        data = super().clean()
        total = data.get("total_minor")
        if self.instance.pk and isinstance(total, int):
            spent = Fund.objects.values_list("spent_minor", flat=True).get(pk=self.instance.pk)
            if total < spent:
                currency = self.instance.currency
                self.add_error("total_minor", FUND_TOTAL_BELOW_SPENT.format(
                    fund=self.instance.name, total=format_money(total, currency), spent=format_money(spent, currency)))
        return data


class TrancheForm(ShowsInitialMixin, MoneyFormMixin, forms.ModelForm):
    amount_minor = MoneyField(label="Amount", minimum=0)

    class Meta:
        model = BudgetTranche
        fields = ["starts_on", "ends_on", "amount_minor"]

    def money_currency(self, data):
        # The formset adds the fund as an inline field holding the parent; on a new fund's page that parent gets its
        # currency from the fund form, which is cleaned before the tranches are.
        fund = data.get("fund") or getattr(self.fields.get("fund"), "parent_instance", None)
        return (fund.currency or None) if fund is not None else None


class TrancheFormSet(forms.BaseInlineFormSet):
    """Gives each tranche form its fund (and so its currency) as soon as it is built, to show amounts in major units;
    checks, before anything is saved, that the tranches release no more than the fund's total nor less than it
    spent (the service checks again under the lock)."""

    def clean(self):
        super().clean()
        fund = self.instance
        if any(self.errors) or not fund.currency or not isinstance(fund.total_minor, int):
            return
        released = sum(form.cleaned_data.get("amount_minor") or 0 for form in self.forms
                       if form.cleaned_data and not self._should_delete_form(form))
        spent = Fund.objects.values_list("spent_minor", flat=True).get(pk=fund.pk) if fund.pk else 0
        money = lambda amount: format_money(amount, fund.currency)  # noqa: E731
        if released > fund.total_minor:
            raise forms.ValidationError(RELEASED_ABOVE_TOTAL.format(fund=fund.name, released=money(released),
                                                                    total=money(fund.total_minor)))
        if released < spent:
            raise forms.ValidationError(RELEASED_BELOW_SPENT.format(fund=fund.name, released=money(released),
                                                                    spent=money(spent)))

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.refresh_money_currency()
        return form

    @property
    def empty_form(self):
        form = super().empty_form
        form.refresh_money_currency()
        return form


class TrancheInline(admin.TabularInline):
    model = BudgetTranche
    form = TrancheForm
    formset = TrancheFormSet
    extra = 1
    fields = ["starts_on", "ends_on", "amount_minor"]


@admin.register(Fund)
class FundAdmin(ConfigurationAdminMixin, admin.ModelAdmin):
    form = FundForm
    list_display = ["name", "program", "currency", "total", "spent", "remaining", "rollover_unspent"]
    list_select_related = ["program"]
    inlines = [TrancheInline]
    readonly_fields = ["spent", "budget_by_month", "versions"]
    fieldsets = [
        (None, {"fields": ["program", "name", "currency", "total_minor", "spent", "rollover_unspent"]}),
        ("Budget", {"fields": ["budget_by_month"]}),
        ("This change", {"fields": ["change_reason"]}),
        ("History", {"fields": ["versions"]}),
    ]

    @admin.display(description="total")
    def total(self, obj):
        return format_money(obj.total_minor, obj.currency)

    @admin.display(description="spent by runs")
    def spent(self, obj):
        return format_money(obj.spent_minor, obj.currency) if obj.pk else "—"

    @admin.display(description="remaining")
    def remaining(self, obj):
        return format_money(obj.total_minor - obj.spent_minor, obj.currency)

    @admin.display(description="released and spent per month")
    def budget_by_month(self, obj):
        if obj.pk is None:
            return "Save the fund and add tranches to see its months."
        rows = FundPosition(obj).months()
        if not rows:
            return "No budget tranche yet: add one below."
        money = lambda amount: format_money(amount, obj.currency)  # noqa: E731
        body = format_html_join(
            "", '<tr><td>{}</td><td class="money">{}</td><td class="money">{}</td><td class="money">{}</td>'
                '<td class="money">{}</td><td class="money">{}</td></tr>',
            ((f"{r.month:%B %Y}", money(r.release), money(r.spent), money(r.released_to_date), money(r.spent_to_date),
              money(obj.total_minor - r.spent_to_date)) for r in rows),
        )
        return format_html("<table><thead><tr><th>Month</th><th>Released</th><th>Spent</th><th>Released to date</th>"
                           "<th>Spent to date</th><th>Fund remaining</th></tr></thead><tbody>{}</tbody></table>"
                           "<p>Spent to date never passes released to date, which never passes the total. What a "
                           "partner owes back is a receivable, not budget.</p>", body)

    @admin.display(description="versions of the fund and its tranches")
    def versions(self, obj):
        if obj.pk is None:
            return "—"
        fund_records = list(Fund.history.filter(id=obj.pk).select_related("history_user")
                            .order_by("history_date", "history_id"))
        tranche_records: dict[int, list] = {}
        for record in (BudgetTranche.history.filter(fund_id=obj.pk).select_related("history_user")
                       .order_by("history_date", "history_id")):
            tranche_records.setdefault(record.id, []).append(record)
        versions = [("Fund", fund_records)] + [
            (f"Tranche {records[-1].starts_on:%Y-%m} to {records[-1].ends_on:%Y-%m} (#{records[-1].id})", records)
            for records in tranche_records.values()]
        fields = {"Fund": FUND_FIELDS, **{label: TRANCHE_FIELDS for label, _ in versions[1:]}}
        return versions_table(versions, fields=fields, money=("total_minor", "amount_minor"),
                              currency=obj.currency)

    def save_related(self, request, form, formsets, change):
        tranches = []
        for formset in formsets:
            self.save_formset(request, form, formset, change)
            for tranche_form in formset.forms:
                pk = tranche_form.instance.pk
                if tranche_form in formset.deleted_forms:
                    if pk:
                        tranches.append(TrancheChange(id=pk, delete=True))
                elif tranche_form.has_changed():
                    # Only what this person changed: a field they left alone keeps whatever it holds by now.
                    names = TRANCHE_FIELDS if pk is None else tranche_form.changed_data
                    tranches.append(TrancheChange(id=pk, values={name: tranche_form.cleaned_data[name]
                                                                 for name in names if name in TRANCHE_FIELDS}))
        reason = form.cleaned_data["change_reason"]
        names = form.changed_data if change else FUND_FIELDS
        values = {name: form.cleaned_data[name] for name in names if name in FUND_FIELDS}
        if change:
            fund = configuration.fund_update(fund_id=form.instance.pk, actor=request.user, reason=reason,
                                             tranches=tranches, **values)
        else:
            fund = configuration.fund_create(program_id=form.cleaned_data["program"].pk, actor=request.user,
                                             reason=reason, tranches=tranches, **values)
        form.instance.pk = fund.pk

    def has_delete_permission(self, request, obj=None):
        return False


MONEY_TERMS = ("partner_cap_minor", "video_cap_minor", "grant_monthly_minor", "min_payout_minor")
PERCENT_TERMS = ("pool_share", "revenue_share_rate", "withholding_rate")


class ProgramTermsForm(ShowsInitialMixin, MoneyFormMixin, forms.ModelForm):
    pool_share = PercentField(label="Pool share", help_text="Share of the monthly budget paid to partners "
                                                            "(100 = all of it).")
    partner_cap_minor = MoneyField(label="Partner cap", required=False, minimum=1,
                                   help_text="Most one partner earns in a month; empty for no cap.")
    revenue_share_rate = PercentField(label="Revenue share", help_text="Partners' share of net ad revenue.")
    video_cap_minor = MoneyField(label="Video cap", required=False, minimum=1,
                                 help_text="Most one video earns; empty for no cap.")
    grant_monthly_minor = MoneyField(label="Monthly grant", required=False, minimum=1)
    min_payout_minor = MoneyField(label="Minimum payout", minimum=0,
                                  help_text="Balances below this roll over to the next month.")
    withholding_rate = PercentField(label="Withholding", help_text="Tax withheld from each payment.")
    change_reason = reason_field()

    class Meta:
        model = ProgramTerms
        fields = ["program", *TERMS_FIELDS]

    def money_currency(self, data):
        program = data.get("program") or (self.instance.program if self.instance.program_id else None)
        return program.currency if program else None


@admin.register(ProgramTerms)
class ProgramTermsAdmin(ConfigurationAdminMixin, admin.ModelAdmin):
    form = ProgramTermsForm
    list_display = ["program", "archetype", "min_payout", "pool_share_shown", "revenue_share_shown", "grant"]
    list_select_related = ["program"]
    readonly_fields = ["versions"]
    fieldsets = [
        (None, {"fields": ["program"]}),
        ("Pooled fund", {"fields": ["pool_share", "min_views", "partner_cap_minor", "excess_policy"]}),
        ("Revenue share", {"fields": ["revenue_share_rate", "revenue_tiers"]}),
        ("Rate per 1,000 views", {"fields": ["rpm_by_country", "rpm_multiplier", "min_video_qualified_views",
                                             "min_video_duration_seconds", "video_cap_minor"]}),
        ("Grant", {"fields": ["grant_monthly_minor"]}),
        ("Every program", {"fields": ["min_payout_minor", "withholding_rate", "hold_without_tax_form",
                                      "hold_without_identity", "hold_when_suspended"]}),
        ("This change", {"fields": ["change_reason"]}),
        ("History", {"fields": ["versions"]}),
    ]

    @admin.display(description="archetype")
    def archetype(self, obj):
        return obj.program.get_archetype_display()

    @admin.display(description="minimum payout")
    def min_payout(self, obj):
        return format_money(obj.min_payout_minor, obj.program.currency)

    @admin.display(description="pool share", ordering="pool_share")
    def pool_share_shown(self, obj):
        return format_percent(obj.pool_share)

    @admin.display(description="revenue share", ordering="revenue_share_rate")
    def revenue_share_shown(self, obj):
        return format_percent(obj.revenue_share_rate)

    @admin.display(description="monthly grant")
    def grant(self, obj):
        return format_money(obj.grant_monthly_minor, obj.program.currency) if obj.grant_monthly_minor else "—"

    @admin.display(description="versions of these terms")
    def versions(self, obj):
        if obj.pk is None:
            return "—"
        records = list(ProgramTerms.history.filter(id=obj.pk).select_related("history_user")
                       .order_by("history_date", "history_id"))
        return versions_table([("Terms", records)], fields={"Terms": TERMS_FIELDS}, money=MONEY_TERMS,
                              percents=PERCENT_TERMS, currency=obj.program.currency)

    def save_related(self, request, form, formsets, change):
        reason = form.cleaned_data["change_reason"]
        names = form.changed_data if change else TERMS_FIELDS  # only what this person changed, as for funds
        values = {name: form.cleaned_data[name] for name in names if name in TERMS_FIELDS and name in form.cleaned_data}
        if change:
            terms = configuration.terms_update(terms_id=form.instance.pk, actor=request.user, reason=reason, **values)
        else:
            terms = configuration.terms_create(program_id=form.cleaned_data["program"].pk, actor=request.user,
                                               reason=reason, **values)
        form.instance.pk = terms.pk


# --- runs -----------------------------------------------------------------------------------------

class ComputeForm(forms.Form):
    program = forms.ModelChoiceField(queryset=Program.objects.filter(archetype__in=list(services.FORMULAS)))
    month = forms.DateField(help_text="Any day of the month, e.g. 2026-10-01.", widget=forms.DateInput(
        attrs={"type": "month"}, format="%Y-%m"), input_formats=["%Y-%m", "%Y-%m-%d"])


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}))


class PayForm(forms.Form):
    reference = forms.CharField(max_length=120, help_text="The bank batch or transfer id of this payment.")


# What the run page and its confirmations say (tests assert these texts).
RUN_STALE_BANNER = "This run is stale: {reason}. Compute it again before it can be approved."
CANNOT_APPROVE = "Cannot approve this run: {makers}."
YOU_CANNOT_APPROVE = "You are one of them, so Approve is not offered to you: another finance approver must approve it."
NO_MAKERS = "Started by the scheduler and nobody's input in it: any finance approver may approve it."
NOT_RECONCILED_YET = "Only computed, approved and paid monthly runs are reconciled."
CHECKS_HOLD = "✔ All {count} checks hold."
CHECKS_FAIL = "✘ {failed} of {count} checks fail: approving and marking paid are refused until they hold."
NOT_POSTED = "not posted"
FIRST_RUN = "first run: no earlier month of {program} was approved or paid"
CHANGE_FROM_PREVIOUS = "{change} ({percent}) from {month:%B %Y} ({previous})"
CHANGE_FROM_NOTHING = "{change} from {month:%B %Y}, which paid nothing"
RED = "color:#c62828"


def run_reconciliation_applies(run: PayoutRun) -> bool:
    return run.kind == PayoutRun.Kind.FINAL and run.status in (
        PayoutRun.Status.COMPUTED, PayoutRun.Status.APPROVED, PayoutRun.Status.PAID)


def signed_money(amount_minor: int, currency: str) -> str:
    """A change of money: "+1,000.00 USD", "−250.00 USD", "0.00 USD"."""
    return ("+" if amount_minor > 0 else "") + format_money(amount_minor, currency)


def signed_percent(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``, one decimal, half-even: "+11.1%", "−50.0%", "0.0%"."""
    percent = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    return ("+" if percent > 0 else "−" if percent < 0 else "") + f"{abs(percent)}%"


def change_from_previous(run: PayoutRun, payable_minor: int) -> str:
    previous = selectors.previous_paying_run(run)
    if previous is None:
        return FIRST_RUN.format(program=run.program)
    change = signed_money(payable_minor - previous.total_payable_minor, run.currency)
    if not previous.total_payable_minor:
        return CHANGE_FROM_NOTHING.format(change=change, month=previous.month)
    return CHANGE_FROM_PREVIOUS.format(change=change, month=previous.month,
                                       percent=signed_percent(payable_minor - previous.total_payable_minor,
                                                              previous.total_payable_minor),
                                       previous=format_money(previous.total_payable_minor, run.currency))


def reconciliation_table(checks: list[Check]):
    """Each check with what was expected and found, ✔ or, in red, ✘ with the difference."""
    if not checks:
        return NOT_RECONCILED_YET
    failed = [check for check in checks if not check.ok]
    rows = format_html_join("", '<tr class="{}"{}><td>{}</td><td class="money">{}</td><td class="money">{}</td>'
                                "<td>{}</td></tr>", (
        ("check-ok", "", check.label, check.expected_text, check.actual_text, "✔") if check.ok else
        ("check-failed", format_html(' style="{}"', RED), check.label, check.expected_text, check.actual_text,
         f"✘ difference {check.difference_text}")
        for check in checks))
    summary = (format_html('<p style="{}"><strong>{}</strong></p>', RED,
                           CHECKS_FAIL.format(failed=len(failed), count=len(checks)))
               if failed else format_html("<p>{}</p>", CHECKS_HOLD.format(count=len(checks))))
    return format_html('{}<table class="reconciliation"><thead><tr><th>Check</th><th>Expected</th><th>Actual</th>'
                       "<th></th></tr></thead><tbody>{}</tbody></table>", summary, rows)


def ledger_summary_table(run: PayoutRun, summary: selectors.RunLedgerSummary):
    """What the run's lines move beside what its ledger transactions moved; a figure that differs is red."""
    money = lambda amount: format_money(amount, run.currency)  # noqa: E731
    rows = [
        ("Owed before (carried in)", summary.owed_before, None, "—"),
        ("Posted by this run (gross + adjustments − withholding)", summary.posted, summary.posted_in_ledger,
         f"run:{run.pk}:approve"),
        ("In payment", summary.in_payment, summary.in_payment_in_ledger, f"run:{run.pk}:in-payment"),
        ("Paid", summary.paid, summary.paid_in_ledger, f"run:{run.pk}:pay"),
    ]
    body = format_html_join("", '<tr{}><td>{}</td><td class="money">{}</td><td class="money">{}</td><td>{}</td></tr>', (
        (format_html(' style="{}"', RED) if ledger is not None and ledger != lines else "", label, money(lines),
         "—" if key == "—" else (money(ledger) if ledger is not None else NOT_POSTED), key)
        for label, lines, ledger, key in rows))
    return format_html('<table class="ledger-summary"><thead><tr><th></th><th>Run\'s lines</th><th>Ledger</th>'
                       "<th>Transaction</th></tr></thead><tbody>{}</tbody></table>", body)


@admin.register(PayoutRun)
class PayoutRunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "total", "line_count", "payable", "started", "approved_by", "computed_at"]
    list_filter = ["status", "kind", "program"]
    list_select_related = ["program", "started_by", "approved_by"]
    ordering = ["-month", "program__name"]
    readonly_fields = [
        "program", "month", "kind", "status", "currency", "as_of", "budget", "total", "adjustments", "net",
        "payable", "line_count", "budget_use", "reconciliation", "ledger_summary", "payment_file", "started",
        "started_at", "computed_at", "approved_by", "approved_at", "paid_by", "paid_at", "payment_reference",
        "cancelled_reason", "error", "lines_link",
    ]
    fieldsets = [
        (None, {"fields": ["program", "month", "kind", "status", "error", "cancelled_reason"]}),
        ("Totals", {"fields": ["budget", "total", "adjustments", "net", "payable", "line_count", "budget_use",
                               "lines_link"]}),
        ("Reconciliation", {"fields": ["reconciliation", "ledger_summary", "payment_file"]}),
        ("Who and when", {"fields": ["started", "started_at", "computed_at", "approved_by", "approved_at",
                                     "paid_by", "paid_at", "payment_reference"]}),
    ]
    change_form_template = "admin/payouts/payoutrun/change_form.html"
    change_list_template = "admin/payouts/payoutrun/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("program", "started_by", "approved_by", "paid_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _money(self, obj, amount):
        return format_money(amount, obj.currency)

    @admin.display(description="budget")
    def budget(self, obj):
        return self._money(obj, obj.budget_minor)

    @admin.display(description="total gross", ordering="total_gross_minor")
    def total(self, obj):
        return self._money(obj, obj.total_gross_minor)

    @admin.display(description="adjustments")
    def adjustments(self, obj):
        return self._money(obj, obj.total_adjustments_minor)

    @admin.display(description="total balance")
    def net(self, obj):
        return self._money(obj, obj.total_net_minor)

    @admin.display(description="payable now")
    def payable(self, obj):
        return self._money(obj, obj.total_payable_minor)

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
        if not run_reconciliation_applies(obj):
            return "—"
        return ledger_summary_table(obj, selectors.run_ledger_summary(obj))

    @admin.display(description="payment file")
    def payment_file(self, obj):
        if not run_reconciliation_applies(obj):
            return "—"
        summary = payment_file_summary(obj)
        when = "" if obj.status != PayoutRun.Status.COMPUTED else " (what approving puts in it)"
        return format_html("{} payees · control total {} · hash total {}{}", f"{summary.count:,}",
                           self._money(obj, summary.control_total), summary.hash_total, when)

    @admin.display(description="lines")
    def lines_link(self, obj):
        url = reverse("admin:payouts_earningline_changelist") + f"?run__id__exact={obj.pk}"
        return format_html('<a href="{}">Review the {} lines (search by partner)</a>', url, obj.line_count)

    # --- actions on one run -------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("compute/", view(self.compute_view), name="payouts_payoutrun_compute"),
            path("<int:run_id>/act/<str:action>/", view(self.act_view), name="payouts_payoutrun_act"),
            path("<int:run_id>/payment-file.csv", view(self.payment_file_view), name="payouts_payoutrun_payment_file"),
            path("<int:run_id>/statements.csv", view(self.statements_view), name="payouts_payoutrun_statements"),
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
        return {
            "run_actions": [action for action in offered if not (action == "approve" and is_maker)],
            "stale_banner": RUN_STALE_BANNER.format(reason=run.stale_reason)
            if run.stale_reason and run.status == PayoutRun.Status.COMPUTED else "",
            "makers_note": (CANNOT_APPROVE.format(makers=", ".join(
                f"{maker.username} ({'; '.join(maker.roles)})" for maker in makers)) if makers else NO_MAKERS)
            if awaiting_approval else "",
            "you_cannot_approve": YOU_CANNOT_APPROVE if is_maker and "approve" in offered else "",
            "can_export": user.has_perm(services.PAY_PERMISSION),
            "has_payment_file": run.status in (PayoutRun.Status.APPROVED, PayoutRun.Status.PAID),
        }

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:  # the run as the page loaded it (with its program and users): no second read
            context.update(self.review_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def compute_view(self, request):
        form = ComputeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            program, month = form.cleaned_data["program"], form.cleaned_data["month"].replace(day=1)
            try:
                run = services.payout_run_request(program_id=program.pk, month=month, actor=request.user)
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
        "cancel": (ReasonForm, "Cancel run", "The run stays for the record; the month can be computed again."),
        "recompute": (None, "Compute again", "Computes the run again: completes a run left computing by a stopped "
                                             "worker, retries a failed one, or brings a stale run up to date with "
                                             "its inputs. Asking makes you one of its makers: you cannot approve it."),
    }
    PAYING_ACTIONS = ("approve", "pay")  # their confirmation shows what is to be paid

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
        form = form_class(request.POST or None) if form_class else forms.Form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                if action == "approve":
                    services.payout_run_approve(run_id=run.pk, actor=request.user)
                elif action == "pay":
                    services.payout_run_mark_paid(run_id=run.pk, actor=request.user,
                                                  reference=form.cleaned_data["reference"])
                elif action == "cancel":
                    services.payout_run_cancel(run_id=run.pk, actor=request.user, reason=form.cleaned_data["reason"])
                else:
                    run = services.payout_run_recompute(run_id=run.pk, actor=request.user)
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

    def _export_allowed(self, request) -> bool:
        if not request.user.has_perm(services.PAY_PERMISSION):
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
class EarningLineAdmin(SpreadsheetExportMixin, LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["partner", "run", "status", "basis_value", "gross", "adjustments", "carried_in", "withholding",
                    "net", "hold_reason", "statement"]
    list_filter = ["status", "run__program", RunFilter]
    list_select_related = ["partner", "run", "run__program"]
    search_fields = ["=partner__handle"]
    search_help_text = "Exact partner handle"
    ordering = ["-id"]
    readonly_fields = ["explanation"]
    resource_classes = [EarningLineResource, StatementResource]  # export (permission export_earningline)

    def _money(self, obj, amount):
        return format_money(amount, obj.run.currency)

    @admin.display(description="gross", ordering="gross_minor")
    def gross(self, obj):
        return self._money(obj, obj.gross_minor)

    @admin.display(description="adjustments")
    def adjustments(self, obj):
        return self._money(obj, obj.adjustments_minor)

    @admin.display(description="carried in")
    def carried_in(self, obj):
        return self._money(obj, obj.carried_in_minor)

    @admin.display(description="withheld")
    def withholding(self, obj):
        return self._money(obj, obj.withholding_minor)

    @admin.display(description="balance", ordering="net_minor")
    def net(self, obj):
        return self._money(obj, obj.net_minor)

    @admin.display(description="statement")
    def statement(self, obj):
        url = reverse("admin:payouts_statement", args=[obj.partner_id, obj.run.month.strftime("%Y-%m")])
        return format_html('<a href="{}">statement</a>', url)

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


# --- corrections and inputs -----------------------------------------------------------------------

class AdjustmentForm(MoneyFormMixin, forms.ModelForm):
    amount = MoneyField(minimum=-MAX_MINOR, help_text="In the program's currency; negative takes money back, e.g. "
                                                     "-25.00 to take back 25.00.")

    class Meta:
        model = Adjustment
        fields = ["partner", "program", "reason"]

    def money_currency(self, data):
        program = data.get("program")
        return program.currency if program is not None else None

    def clean(self):
        data = super().clean()
        if isinstance(data.get("amount"), int):
            data["amount_minor"] = data["amount"]
            if data["amount_minor"] == 0:
                self.add_error("amount", ADJUSTMENT_ZERO)
        return data


ADJUSTMENTS_DONE = "{count} adjustment(s) {done}: {items}."
ADJUSTMENTS_SKIPPED = "{count} adjustment(s) skipped:"
ADJUSTMENT_SKIPPED = "{item}: {why}"
# Said on the confirmation page before the click; the service decides (and refuses) under the row lock.
WILL_SKIP_DECIDED = "skipped: already {status}"
WILL_SKIP_CREATOR = "skipped: you created it"
ADJUSTMENT_DECISIONS = {
    "approve": (services.adjustment_approve, "approved"),
    "reject": (services.adjustment_reject, "rejected"),
}
# Adjustments awaiting a second approver come first on the list, newest first, then the decided ones.
AWAITING_FIRST = Case(When(status=Adjustment.Status.PENDING, then=Value(0)), default=Value(1))


@admin.register(Adjustment)
class AdjustmentAdmin(admin.ModelAdmin):
    form = AdjustmentForm
    list_display = ["id", "partner", "program", "status_shown", "amount", "reason", "created_by", "decided_by",
                    "held_reason", "applied_run", "created_at"]
    list_select_related = ["partner", "program", "created_by", "decided_by", "applied_run", "applied_run__program"]
    list_filter = ["status", "program"]
    ordering = [AWAITING_FIRST.asc(), "-id"]
    search_fields = ["=partner__handle"]
    raw_id_fields = ["partner"]
    actions = ["approve_selected", "reject_selected"]
    DECIDED_FIELDS = ["partner", "program", "amount", "reason", "status", "created_by", "created_at", "decided_by",
                      "decided_at", "decision_reason", "held_reason", "applied_run"]

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, obj):
        return format_money(obj.amount_minor, obj.program.currency)

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj):
        if obj.status == Adjustment.Status.PENDING:
            return format_html('<strong style="color:#b26a00">{}</strong>', obj.get_status_display())
        return obj.get_status_display()

    def get_fields(self, request, obj=None):
        return self.DECIDED_FIELDS if obj is not None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.DECIDED_FIELDS if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return request.user.has_perm(services.APPROVE_ADJUSTMENT_PERMISSION)

    def save_model(self, request, obj, form, change):
        created = services.adjustment_create(partner_id=obj.partner_id, program_id=obj.program_id,
                                             amount_minor=form.cleaned_data["amount_minor"],
                                             reason=form.cleaned_data["reason"], actor=request.user)
        obj.pk = created.pk

    # --- a second approver decides: each selected adjustment by its own service call ------------------
    @admin.action(description="Approve selected adjustments…", permissions=["approve"])
    def approve_selected(self, request, queryset):
        return self._decide(request, queryset, "approve")

    @admin.action(description="Reject selected adjustments…", permissions=["approve"])
    def reject_selected(self, request, queryset):
        return self._decide(request, queryset, "reject")

    def _item(self, obj) -> str:
        return f"#{obj.pk} @{obj.partner.handle} {format_money(obj.amount_minor, obj.program.currency)}"

    def _decide(self, request, queryset, action: str):
        objects = list(queryset.select_related("partner", "program", "created_by").order_by("id")[:500])
        form = DecisionReasonForm(request.POST if "apply" in request.POST else None, reason_required=action == "reject",
                          show_override=False)
        if "apply" in request.POST and form.is_valid():
            decide, done_word = ADJUSTMENT_DECISIONS[action]
            done, skipped = [], []
            for obj in objects:
                try:
                    decide(adjustment_id=obj.pk, actor=request.user, reason=form.cleaned_data["reason"])
                except PayoutsError as exc:
                    skipped.append((obj, str(exc)))
                else:
                    done.append(obj)
            if done:
                items = ", ".join(self._item(obj) for obj in done)
                self.message_user(request, ADJUSTMENTS_DONE.format(count=len(done), done=done_word, items=items),
                                  messages.SUCCESS)
            if skipped:
                self.message_user(request, ADJUSTMENTS_SKIPPED.format(count=len(skipped)), messages.WARNING)
                for obj, why in skipped:
                    self.message_user(request, ADJUSTMENT_SKIPPED.format(item=self._item(obj), why=why),
                                      messages.WARNING)
            return None
        rows = [(obj, self._item(obj), WILL_SKIP_DECIDED.format(status=obj.get_status_display().lower())
                 if obj.status != Adjustment.Status.PENDING else WILL_SKIP_CREATOR
                 if obj.created_by_id == request.user.pk else "") for obj in objects]
        return TemplateResponse(request, "admin/payouts/adjustment/decide.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "action": action,
            "title": f"{action.capitalize()} adjustments", "rows": rows, "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })


class EntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "amount_minor"]
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "description", "run", "created_by", "created_at"]
    list_select_related = ["run", "run__program", "created_by"]
    search_fields = ["=key"]
    ordering = ["-id"]
    inlines = [EntryInline]

    def get_inline_instances(self, request, obj=None):
        # A run's approval can hold a million entries: the inline shows them only for small transactions.
        if obj is not None and obj.entries.count() > 200:
            return []
        return super().get_inline_instances(request, obj)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "currency", "fund", "partner", "program"]
    list_filter = ["kind", "currency"]
    list_select_related = ["fund", "partner", "program"]
    search_fields = ["=partner__handle"]
    readonly_fields = ["balance"]
    ordering = ["-id"]

    @admin.display(description="balance")
    def balance(self, obj):
        from payouts.ledger import balance
        return format_money(balance(obj), obj.currency)


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
            extra_context["bulk_upload_url"] = reverse("admin:ingestion_importjob_upload",
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


# The admin's front page opens on the dashboard (payouts.dashboard), above the usual list of apps.
admin.site.index_template = "admin/dashboard.html"
