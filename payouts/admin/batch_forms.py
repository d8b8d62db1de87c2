"""The forms of the payment batch pages: create (currency and rail), release (the count and control total the person
read), cancel (a reason), statement upload (a bounded file)."""

from __future__ import annotations

import re
from typing import cast

from django import forms
from django.conf import settings

from core.money import parse_money
from payouts.models import Payee

DEFAULT_STATEMENT_MAX_BYTES = 20 * 1024 * 1024


class BatchCreateForm(forms.Form):
    currency = forms.CharField(max_length=3, help_text="ISO 4217 code: EUR for SEPA, USD for ACH, any for other.")
    rail = forms.ChoiceField(choices=Payee.Rail.choices)
    # What the preview showed ("EUR:sepa:count:total"): "Create batch" creates exactly that or nothing.
    previewed = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def previewed_figures(self, currency: str, rail: str) -> tuple[int, int] | None:
        """The count and total previewed for this currency and rail, or None if the preview was of something else
        (another currency or rail typed since) or is missing."""
        match = re.fullmatch(r"([A-Z]{3}):([a-z]+):(\d{1,12}):(-?\d{1,20})", self.cleaned_data.get("previewed") or "")
        if match is None or (match.group(1), match.group(2)) != (currency, rail):
            return None
        return int(match.group(3)), int(match.group(4))


class BatchReleaseForm(forms.Form):
    payments = forms.IntegerField(min_value=0, max_value=10**9, label="Number of payments",
                                  help_text="Type the number of payments shown above.")
    control_total = forms.CharField(max_length=40, help_text="Type the control total shown above.")

    def __init__(self, *args, currency: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["control_total"].help_text = f"Type the control total shown above, in {currency}."

    def clean_control_total(self) -> int:
        try:
            return parse_money(self.cleaned_data["control_total"], self.currency)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class BatchCancelForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), max_length=500)


class PaymentFailedForm(forms.Form):
    """A sent payment the bank rejected (its status report, its portal): which one, the bank's code and a note."""

    end_to_end_id = forms.ChoiceField(label="Payment", help_text="A payment of this batch sent to the bank and not "
                                                                 "yet settled.")
    reason_code = forms.CharField(max_length=8, help_text="The bank's reason code, e.g. AC01 (incorrect account "
                                                          "number) or FF01 (invalid file format).")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), max_length=150,
                             help_text="Where the bank said it, in a few words: it stays on the payment.")

    def __init__(self, *args, payments: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["end_to_end_id"]).choices = payments


def statement_max_bytes() -> int:
    return int(getattr(settings, "BANK_STATEMENT_MAX_BYTES", DEFAULT_STATEMENT_MAX_BYTES))


class StatementUploadForm(forms.Form):
    statement = forms.FileField(help_text="The bank's camt.053 statement, camt.054 notification or "
                                                  "pain.002 status report (XML).")

    def clean_statement(self):
        upload = self.cleaned_data["statement"]
        if upload.size > statement_max_bytes():
            raise forms.ValidationError(f"The file is {upload.size:,} bytes; at most {statement_max_bytes():,} "
                                        "bytes are accepted.")
        return upload
