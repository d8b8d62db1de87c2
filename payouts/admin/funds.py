"""Funds (with their tranches) and program money terms: changed through payouts.configuration with a reason."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from core.money import format_money, format_percent
from payouts import configuration, selectors
from payouts.admin.forms import (
    FundForm,
    ProgramTermsForm,
    TrancheForm,
    TrancheFormSet,
)
from payouts.admin.history import versions_table
from payouts.configuration import (
    FUND_FIELDS,
    TERMS_FIELDS,
    TRANCHE_FIELDS,
    ConfigurationRefused,
    TrancheChange,
)
from payouts.funds import FundPosition
from payouts.models import (
    BudgetTranche,
    Fund,
    ProgramTerms,
)

MONEY_TERMS = ("partner_cap_minor", "video_cap_minor", "grant_monthly_minor", "min_payout_minor")
PERCENT_TERMS = ("pool_share", "revenue_share_rate", "withholding_rate", "domestic_withholding_rate",
                 "statutory_withholding_rate")


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
        fund_records = selectors.history_records(Fund, id=obj.pk)
        tranche_records: dict[int, list] = {}
        for record in selectors.history_records(BudgetTranche, fund_id=obj.pk):
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


@admin.register(ProgramTerms)
class ProgramTermsAdmin(ConfigurationAdminMixin, admin.ModelAdmin):
    form = ProgramTermsForm
    list_display = ["program", "archetype", "min_payout", "pool_share_shown", "revenue_share_shown", "grant"]
    list_select_related = ["program"]
    readonly_fields = ["versions"]
    fieldsets = [
        (None, {"fields": ["program"]}),
        ("Pooled fund", {"fields": ["pool_share", "min_views", "partner_cap_minor", "excess_policy",
                                    "forfeiture_policy"]}),
        ("Revenue share", {"fields": ["revenue_share_rate", "revenue_tiers"]}),
        ("Rate per 1,000 views", {"fields": ["rpm_by_country", "rpm_multiplier", "min_video_qualified_views",
                                             "min_video_duration_seconds", "video_cap_minor"]}),
        ("Grant", {"fields": ["grant_monthly_minor"]}),
        ("Every program", {"fields": ["min_payout_minor", "hold_without_identity", "hold_when_suspended"]}),
        ("Tax", {"fields": ["income_type", "domestic_withholding_rate", "statutory_withholding_rate",
                            "missing_form_policy", "withholding_rate", "hold_without_tax_form"],
                 "description": "Each line is withheld at the rate its partner's tax profile gives (payouts.formulas."
                                "tax): a validated W-9 at the domestic rate, a validated W-8 at the treaty rate for "
                                "the residence country and this income type, else the statutory rate. The flat rate "
                                "and the tax-form hold apply to partners who have no tax profile yet."}),
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
        records = selectors.history_records(ProgramTerms, id=obj.pk)
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
