"""The admin's forms over money: funds, tranches, terms (each change with its reason), adjustments, runs."""

from __future__ import annotations

from django import forms

from core.admin import ReasonForm
from core.money import MAX_MINOR, format_money
from core.money_fields import CurrencyChoiceField, MoneyField, MoneyFormMixin, PercentField
from partnerships.models import Program
from payouts.configuration import (
    FUND_TOTAL_BELOW_SPENT,
    RELEASED_ABOVE_TOTAL,
    RELEASED_BELOW_SPENT,
    TERMS_FIELDS,
)
from payouts.exceptions import ADJUSTMENT_ZERO
from payouts.formulas.archetypes import FORMULAS
from payouts.models import (
    Adjustment,
    BudgetTranche,
    Fund,
    ProgramTerms,
)

# --- funds and terms: money configuration, changed through payouts.configuration with a reason ------------------

REASON_HELP = "Kept with this version in the history below, with your name and the time."


def reason_field() -> forms.CharField:
    return forms.CharField(label="Reason for this change", required=True, help_text=REASON_HELP,
                           widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


class ShowsInitialMixin:
    """Each field posts back the value the person saw (Django's hidden initial), so the form's changed data is what
    they changed, not what differs from the row now: a save leaves alone a field someone else changed meanwhile."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "change_reason":
                field.show_hidden_initial = True


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
    withholding_rate = PercentField(label="Flat withholding",
                                    help_text="Withheld from partners who have no tax profile yet.")
    domestic_withholding_rate = PercentField(label="Domestic withholding",
                                             help_text="Withheld from partners with a validated W-9; usually 0.")
    statutory_withholding_rate = PercentField(label="Statutory withholding",
                                              help_text="Withheld without a treaty rate or a valid form (30% for US "
                                                        "payers).")
    change_reason = reason_field()

    class Meta:
        model = ProgramTerms
        fields = ["program", *TERMS_FIELDS]

    def money_currency(self, data):
        program = data.get("program") or (self.instance.program if self.instance.program_id else None)
        return program.currency if program else None


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


class ComputeForm(forms.Form):
    program = forms.ModelChoiceField(queryset=Program.objects.filter(archetype__in=list(FORMULAS)))
    month = forms.DateField(help_text="Any day of the month, e.g. 2026-10-01.", widget=forms.DateInput(
        attrs={"type": "month"}, format="%Y-%m"), input_formats=["%Y-%m", "%Y-%m-%d"])


class PayForm(forms.Form):
    reference = forms.CharField(max_length=120, help_text="The bank batch or transfer id of this payment.")


def cancel_form(*args, **kwargs) -> ReasonForm:
    """Cancelling a run asks for a reason (the decision reason form, reason required)."""
    return ReasonForm(*args, reason_required=True, show_override=False, **kwargs)
