"""Form fields for money as people type it: major units beside the currency, cleaned to integer minor units.

A form whose amounts are in one currency mixes in MoneyFormMixin and says where that currency comes from
(``money_currency``): the instance (a fund's currency, a program's), or another field of the same form (a new
campaign's currency). Amounts are parsed with that currency when the form is cleaned, so "1.5" is refused for JPY and
"1.234" for USD, each with what was understood and what to type instead.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.forms.renderers import BaseRenderer
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.money import (
    CURRENCIES,
    EXPONENTS,
    MAX_MINOR,
    UNKNOWN_CURRENCY,
    UnknownCurrency,
    currency_name,
    example_amount,
    format_amount,
    format_money,
    format_percent,
    parse_money,
    parse_rate_percent,
)

MONEY_BELOW_MINIMUM = "{amount} is below the least allowed here, {minimum}."
MONEY_ABOVE_MAXIMUM = "{amount} is above the most allowed here, {maximum}."
MONEY_NO_CURRENCY = "Choose the currency first: the amount is read in its decimals."


class MoneyInput(forms.TextInput):
    """A text input (decimal keyboard on phones) with the currency code beside it."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false", "size": 22,
                          **(attrs or {})})
        self.currency: str | None = None

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: BaseRenderer | None = None) -> SafeString:
        html = super().render(name, value, attrs, renderer)
        label = self.currency or "in the chosen currency"
        return format_html('{} <span class="money-currency" data-currency="{}">{}</span>', html,
                           self.currency or "", label)


class MoneyField(forms.CharField):
    """An amount typed in major units ("1,234.56"), cleaned to integer minor units of the form's currency.

    Shows an initial value (minor units) in major units: 10_000_000_000 USD → "100,000,000.00"."""

    widget: MoneyInput = MoneyInput  # type: ignore[assignment]  # Django turns the class into an instance

    def __init__(self, *, currency: str | None = None, minimum: int | None = None, maximum: int | None = MAX_MINOR,
                 **kwargs: Any) -> None:
        kwargs.setdefault("max_length", None)
        kwargs.setdefault("strip", True)
        self.minimum, self.maximum = minimum, maximum
        self._help = kwargs.pop("help_text", "")
        super().__init__(**kwargs)
        self.currency: str | None = None
        self.set_currency(currency)

    def set_currency(self, currency: str | None) -> None:
        self.currency = currency if currency in EXPONENTS else None
        self.widget.currency = self.currency
        example = f"e.g. {example_amount(self.currency)}"
        where = f"In {self.currency}" if self.currency else "In the currency chosen above"
        self.help_text = " ".join(part for part in (self._help, f"{where}, {example}: a point for decimals, "
                                                                "commas between thousands if you like.") if part)

    def __deepcopy__(self, memo: dict[int, Any]) -> MoneyField:
        result: MoneyField = super().__deepcopy__(memo)
        result.widget.currency = result.currency
        return result

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and self.currency:
            return format_amount(value, self.currency)
        return value

    def to_python(self, value: Any) -> int | str | None:  # type: ignore[override]  # minor units, not only text
        """Minor units once the currency is known; until then the text, which the form parses in clean()."""
        text = super().to_python(value)
        if text is None or text in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # an initial value, already in minor units
        if self.currency is None:
            return text
        return self.parse(text)

    def parse(self, text: str) -> int:
        currency = self.currency
        try:
            if currency is None:  # to_python parses only once the currency is known; refused as an unknown code
                raise UnknownCurrency(UNKNOWN_CURRENCY.format(currency=currency))
            amount = parse_money(text, currency)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc
        if self.minimum is not None and amount < self.minimum:
            raise forms.ValidationError(MONEY_BELOW_MINIMUM.format(
                amount=format_money(amount, currency), minimum=format_money(self.minimum, currency)),
                code="min_value")
        if self.maximum is not None and amount > self.maximum:
            raise forms.ValidationError(MONEY_ABOVE_MAXIMUM.format(
                amount=format_money(amount, currency), maximum=format_money(self.maximum, currency)),
                code="max_value")
        return amount

    def validate(self, value: Any) -> None:
        if value in self.empty_values and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")

    def run_validators(self, value: Any) -> None:
        return None  # bounds are checked in parse(), in major units: a validator on minor units would speak in cents


if TYPE_CHECKING:
    _FormBase = forms.BaseForm
else:
    _FormBase = object


class MoneyFormMixin(_FormBase):
    """For forms whose amounts are all in one currency: ``money_currency(data)`` says which, from the cleaned data of
    the form (or, before cleaning, from {}) and its instance. Money fields are given it at init, to show initial values
    in major units, and amounts are parsed with it (again, if the currency field changed) when the form is cleaned."""

    def money_currency(self, data: dict[str, Any]) -> str | None:
        raise NotImplementedError

    def money_fields(self) -> dict[str, MoneyField]:
        return {name: field for name, field in self.fields.items() if isinstance(field, MoneyField)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refresh_money_currency()

    def refresh_money_currency(self) -> None:
        """Give the money fields the currency known now (say, once an inline form knows its parent)."""
        currency = self.money_currency({})
        for field in self.money_fields().values():
            field.set_currency(currency)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data is None:  # a parent clean() that returns nothing keeps cleaned_data, as Django's own forms do
            data = self.cleaned_data
        currency = self.money_currency(data)
        for name, field in self.money_fields().items():
            if field.currency == currency and not isinstance(data.get(name), str):
                continue  # already cleaned (or refused, with its error) in this currency
            # Not yet read (the currency comes from this form), or read in a currency the form no longer has.
            field.set_currency(currency)
            self.errors.pop(name, None)  # full_clean() has made the dict: this reads it, never cleans again
            text = self[name].data
            if currency is None and text not in field.empty_values:
                data.pop(name, None)
                self.add_error(name, MONEY_NO_CURRENCY)
                continue
            try:
                data[name] = field.clean(text)
            except forms.ValidationError as exc:
                data.pop(name, None)
                self.add_error(name, exc)
        return data


class PercentField(forms.CharField):
    """A rate typed as a percentage ("50", "12.5 %"), cleaned to the Decimal fraction the models store (0.125)."""

    def __init__(self, *, low: Decimal = Decimal(0), high: Decimal = Decimal(100), places: int = 4,
                 **kwargs: Any) -> None:
        self.low, self.high, self.places = low, high, places
        kwargs.setdefault("max_length", None)
        help_text = kwargs.pop("help_text", "")
        kwargs["help_text"] = " ".join(part for part in (help_text, f"A percentage from {low} to {high}, "
                                                         "e.g. 12.5 (or 12.5%).") if part)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off", "size": 10})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return format_percent(value)
        return value

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]  # a fraction, not text
        if isinstance(value, Decimal):
            return value
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return parse_rate_percent(text, low=self.low, high=self.high, places=self.places)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

    def run_validators(self, value: Any) -> None:
        return None  # the bounds are the parser's, in percent


def currency_choices(*, keep: str | None = None) -> list[tuple[str, str]]:
    """Every currency in circulation as "USD — US Dollar", plus `keep` (a stored code no longer in circulation)."""
    codes = sorted({*CURRENCIES, *([keep] if keep else [])})
    return [(code, f"{code} — {currency_name(code)}") for code in codes]


class CurrencyChoiceField(forms.ChoiceField):
    """An ISO 4217 currency from babel's table (a form-level choice: the model field stays a free CharField)."""

    def __init__(self, *, keep: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "The ISO 4217 code, e.g. USD.")
        super().__init__(choices=currency_choices(keep=keep), **kwargs)

    def keep(self, code: str | None) -> None:
        """Offer a stored code even if it is no longer in circulation, so an old record can still be saved."""
        if code and code not in CURRENCIES:
            self.choices = currency_choices(keep=code)
