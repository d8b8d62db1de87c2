"""The brand pages' forms: a campaign, and the fee and message of an invitation."""

from __future__ import annotations

from django import forms

from core.money_fields import CurrencyChoiceField, MoneyField, MoneyFormMixin
from partnerships.models import INVITATION_MESSAGE_MAX, Brand, Campaign


class CampaignForm(MoneyFormMixin, forms.ModelForm):
    brand: forms.ModelChoiceField[Brand] = forms.ModelChoiceField(queryset=None)  # the user's brands, per request
    currency = CurrencyChoiceField(initial="USD")
    budget = MoneyField(minimum=0, help_text="The campaign's whole budget.")
    target_countries = forms.CharField(required=False, help_text="Two-letter codes, comma-separated, e.g. US, GB")

    class Meta:
        model = Campaign
        fields = ["brand", "name", "brief", "currency", "target_countries", "categories", "followers_min",
                  "followers_max", "min_engagement_rate", "min_avg_views", "deliverables", "starts_on", "ends_on",
                  "status"]
        widgets = {"starts_on": forms.DateInput(attrs={"type": "date"}),
                   "ends_on": forms.DateInput(attrs={"type": "date"}),
                   "categories": forms.CheckboxSelectMultiple}

    def __init__(self, *args, brands, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["brand"].queryset = brands

    def clean_target_countries(self):
        raw = self.cleaned_data.get("target_countries") or ""
        return sorted({code.strip().upper() for code in raw.split(",") if code.strip()})

    def money_currency(self, data):
        # Until the form is cleaned the budget is "in the currency chosen above": the brand may change it.
        return data.get("currency") or None

    def clean(self):
        data = super().clean()
        if isinstance(data.get("budget"), int):
            data["budget_minor"] = data["budget"]
        return data


class InvitationFeeForm(MoneyFormMixin, forms.Form):
    """The fee offered with an invitation, in the campaign's currency."""

    fee = MoneyField(minimum=0, help_text="The fee offered to each creator invited.")
    message = forms.CharField(required=False, strip=False, max_length=INVITATION_MESSAGE_MAX)

    def __init__(self, *args, currency: str, **kwargs):
        self.currency = currency
        super().__init__(*args, **kwargs)

    def money_currency(self, data):
        return self.currency
