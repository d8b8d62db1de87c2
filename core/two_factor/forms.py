"""The admin's sign-in form (an optional authenticator code beside the password) and the pages' code form."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.two_factor.devices import NO_DEVICE, WRONG_CODE, confirmed_device

CODE_PATTERN = re.compile(r"[0-9]{6,8}")
TOO_MANY_WRONG_CODES = ("Too many wrong codes in a row (%(failure_count)d): codes are refused for a while. Wait, "
                        "then sign in with the code your app shows then.")
NOT_A_CODE = "A code is the 6 digits your authenticator app shows (spaces are ignored)."


def clean_code(value: str) -> str:
    """A code as people type it ("123 456"): digits only, 6 to 8 of them, or a clear error."""
    code = value.replace(" ", "").replace("-", "")
    if not CODE_PATTERN.fullmatch(code):
        raise forms.ValidationError(NOT_A_CODE)
    return code


class CodeForm(forms.Form):
    code = forms.CharField(label="Code from your authenticator app", max_length=16,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                                         "size": 10, "autofocus": True}))

    def clean_code(self) -> str:
        return clean_code(self.cleaned_data["code"])


class AdminLoginForm(OTPAuthenticationFormMixin, AdminAuthenticationForm):  # type: ignore[misc]  # untyped mixin
    """The admin's sign-in: username and password as before (django-axes counts and locks them, through
    authenticate()), plus an optional authenticator code. A right code marks the session verified (django-otp's
    user_logged_in handler); a wrong one refuses the sign-in; none signs in unverified (money actions then ask for a
    code on the verify page)."""

    otp_token = forms.CharField(label="Authenticator code", required=False, max_length=16,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                              "inputmode": "numeric", "size": 10}),
                                help_text="Only if you set up an authenticator app: needed to approve or pay.")

    otp_error_messages = dict(
        OTPAuthenticationFormMixin.otp_error_messages,
        invalid_token=WRONG_CODE,
        device_required=NO_DEVICE,
        n_failed_attempts=TOO_MANY_WRONG_CODES,
    )

    def clean_otp_token(self) -> str:
        value = self.cleaned_data.get("otp_token") or ""
        return clean_code(value) if value.strip() else ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # the password (and axes) first: a code is checked only for the right person
        if cleaned.get("otp_token"):
            self.clean_otp(self.get_user())
        return cleaned

    def _chosen_device(self, user: Any) -> TOTPDevice | None:
        # One device per person here: the confirmed one, locked for the check (clean_otp runs in a transaction).
        return confirmed_device(user, for_update=True)
