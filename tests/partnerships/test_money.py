"""Money as people type and read it: the currency table from babel, strict parsing, formatting, form fields."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import get_currency_precision
from django import forms
from hypothesis import given
from hypothesis import strategies as st

from core.money import (
    CURRENCIES,
    EXPONENTS,
    ISO_4217_WHERE_CLDR_DIFFERS,
    MAX_MINOR,
    MONEY_CONTROL_CHARACTER,
    MONEY_DECIMAL_COMMA,
    MONEY_EMPTY,
    MONEY_EXPONENT,
    MONEY_NO_DECIMALS,
    MONEY_NOT_AN_AMOUNT,
    MONEY_NOT_ASCII_DIGITS,
    MONEY_NOT_FINITE,
    MONEY_OTHER_CURRENCY,
    MONEY_TOO_LARGE,
    MONEY_TOO_LONG,
    MONEY_TOO_MANY_DECIMALS,
    PERCENT_OUT_OF_RANGE,
    UnknownCurrency,
    exponent,
    format_money,
    format_percent,
    parse_money,
    parse_rate_percent,
)
from core.money_fields import (
    MONEY_BELOW_MINIMUM,
    CurrencyChoiceField,
    MoneyField,
    MoneyFormMixin,
    PercentField,
)

# --- the currency table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("currency", "places"), [("JPY", 0), ("BHD", 3), ("USD", 2), ("EUR", 2), ("CLF", 4),
                                                  ("UYW", 4), ("KWD", 3), ("XOF", 0), ("HUF", 2), ("IQD", 3)])
def test_exponents_come_from_babel_with_iso_4217_where_cldr_shows_fewer(currency, places):
    assert exponent(currency) == places


def test_the_iso_overrides_are_exactly_where_babel_disagrees():
    # CLDR's digits are display digits; where they differ from ISO 4217's minor unit the stored meaning wins.
    # If babel ever agrees (or disagrees somewhere new), this says so.
    disagreeing = {code for code in CURRENCIES if get_currency_precision(code) != EXPONENTS[code]}
    assert disagreeing == set(ISO_4217_WHERE_CLDR_DIFFERS)
    assert all(get_currency_precision(code) < places for code, places in ISO_4217_WHERE_CLDR_DIFFERS.items())


def test_currencies_in_circulation_are_offered_and_historic_ones_only_read():
    assert {"USD", "EUR", "JPY", "BHD", "GBP", "INR", "BRL"} <= set(CURRENCIES)
    assert "ITL" not in CURRENCIES  # the lira: still formatted if stored, never offered
    assert exponent("ITL") == 0


def test_an_unknown_currency_is_an_error_not_a_guess_of_two_decimals():
    with pytest.raises(UnknownCurrency, match="“ZZZ” is not an ISO 4217 currency code"):
        exponent("ZZZ")
    with pytest.raises(UnknownCurrency):
        parse_money("1.00", "usd")
    assert format_money(150, "ZZZ") == "150 minor units of “ZZZ”"


# --- parsing ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("12.50", "USD", 1250),
    ("1,234.56", "USD", 123456),
    ("1234", "USD", 123400),
    ("-25.00", "USD", -2500),
    ("−25.00", "USD", -2500),
    ("1 234 567.89", "USD", 123456789),
    ("1\u00a0234.50", "USD", 123450),  # a no-break space, as pasted from a spreadsheet
    ("  12.5  ", "USD", 1250),
    ("12,500", "USD", 1250000),  # a comma before exactly three digits groups thousands
    ("100,000,000.00", "USD", 10_000_000_000),
    ("12.50 USD", "USD", 1250),  # what format_money writes
    ("1,000", "JPY", 1000),
    ("1.234", "BHD", 1234),
    ("0", "EUR", 0),
    ("10,000,000,000,000.00", "USD", MAX_MINOR),
])
def test_parse_money_accepts(text, currency, minor):
    assert parse_money(text, currency) == minor


@pytest.mark.parametrize(("text", "currency", "message"), [
    ("12,50", "USD", MONEY_DECIMAL_COMMA.format(text="12,50", suggestion="12.50")),
    ("1.234,56", "USD", MONEY_DECIMAL_COMMA.format(text="1.234,56", suggestion="1234.56")),
    ("1,5", "EUR", MONEY_DECIMAL_COMMA.format(text="1,5", suggestion="1.5")),
    ("1e3", "USD", MONEY_EXPONENT.format(text="1e3", suggestion="1000")),
    ("2.5E2", "USD", MONEY_EXPONENT.format(text="2.5E2", suggestion="250")),
    ("١٢٫٥٠", "USD", MONEY_NOT_ASCII_DIGITS.format(text="١٢٫٥٠", name="Arabic-Indic", suggestion="12.50")),
    ("１２", "USD", MONEY_NOT_ASCII_DIGITS.format(text="１２", name="Fullwidth", suggestion="12")),
    ("12\x0050", "USD", MONEY_CONTROL_CHARACTER.format(name="U+0000", example="1,234.56")),
    ("1\u200b2", "USD", MONEY_CONTROL_CHARACTER.format(name="ZERO WIDTH SPACE", example="1,234.56")),
    ("inf", "USD", MONEY_NOT_FINITE.format(text="inf", example="1,234.56")),
    ("-Infinity", "USD", MONEY_NOT_FINITE.format(text="-Infinity", example="1,234.56")),
    ("NaN", "USD", MONEY_NOT_FINITE.format(text="NaN", example="1,234.56")),
    ("1.234", "USD", MONEY_TOO_MANY_DECIMALS.format(text="1.234", places=3, currency="USD", allowed=2,
                                                    suggestion="1.23")),
    ("1.5", "JPY", MONEY_NO_DECIMALS.format(text="1.5", currency="JPY", suggestion="1")),
    ("1.2345", "BHD", MONEY_TOO_MANY_DECIMALS.format(text="1.2345", places=4, currency="BHD", allowed=3,
                                                     suggestion="1.234")),
    ("10,000,000,000,000.01", "USD", MONEY_TOO_LARGE.format(text="10,000,000,000,000.01",
                                                            limit="10,000,000,000,000.00 USD")),
    ("99999999999999999999999", "USD", MONEY_TOO_LARGE.format(text="99999999999999999999999",
                                                              limit="10,000,000,000,000.00 USD")),
    ("", "USD", MONEY_EMPTY.format(example="1,234.56")),
    ("   ", "JPY", MONEY_EMPTY.format(example="1,234")),
    ("1" * 41, "USD", MONEY_TOO_LONG.format(length=41, limit=40, example="1,234.56")),
    ("12.50 EUR", "USD", MONEY_OTHER_CURRENCY.format(text="12.50 EUR", typed="EUR", currency="USD")),
    ("$12", "USD", MONEY_NOT_AN_AMOUNT.format(text="$12", example="1,234.56")),
    ("1,23,456", "USD", MONEY_NOT_AN_AMOUNT.format(text="1,23,456", example="1,234.56")),
    ("12.", "USD", MONEY_NOT_AN_AMOUNT.format(text="12.", example="1,234.56")),
    ("1 234,567.00", "USD", MONEY_NOT_AN_AMOUNT.format(text="1 234,567.00", example="1,234.56")),  # mixed groups
    ("--5", "USD", MONEY_NOT_AN_AMOUNT.format(text="--5", example="1,234.56")),
])
def test_parse_money_refuses_saying_what_it_understood_and_what_to_type(text, currency, message):
    with pytest.raises(ValueError, match=".") as caught:
        parse_money(text, currency)
    assert str(caught.value) == message


def test_the_decimal_comma_message_names_the_point():
    with pytest.raises(ValueError, match="“12,50” looks like a decimal comma; this field takes a point for "
                                         "decimals: type 12.50"):
        parse_money("12,50", "USD")


def test_numbers_from_a_spreadsheet_are_read_through_the_same_rules():
    assert parse_money(5, "USD") == 500
    assert parse_money(Decimal("34.57"), "USD") == 3457
    assert parse_money(34.57, "USD") == 3457
    with pytest.raises(ValueError, match="has 17 decimals"):
        parse_money(0.1 + 0.2, "USD")  # the float is not 0.30: refused, never rounded
    with pytest.raises(ValueError, match="Type an amount"):
        parse_money(None, "USD")


# --- formatting ------------------------------------------------------------------------------------------

def test_format_money_is_unchanged():
    assert format_money(123456, "USD") == "1,234.56 USD"
    assert format_money(-500, "EUR") == "−5.00 EUR"
    assert format_money(1000, "JPY") == "1,000 JPY"
    assert format_money(1234, "BHD") == "1.234 BHD"
    assert format_money(None, "USD") == "—"


@given(currency=st.sampled_from(sorted(EXPONENTS)), amount=st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR))
def test_format_then_parse_gives_the_amount_back(currency, amount):
    assert parse_money(format_money(amount, currency), currency) == amount
    assert parse_money(format_money(amount, currency).removesuffix(f" {currency}"), currency) == amount


# --- percentages -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "rate"), [("50", Decimal("0.5")), ("50%", Decimal("0.5")),
                                            ("12.5 %", Decimal("0.125")), ("0", Decimal("0")),
                                            ("100", Decimal("1")), ("45.1234", Decimal("0.451234"))])
def test_parse_rate_percent_accepts(text, rate):
    assert parse_rate_percent(text) == rate


@pytest.mark.parametrize(("text", "part"), [
    ("150", PERCENT_OUT_OF_RANGE.format(text="150", value="150%", low="0%", high="100%")),
    ("-1", "is understood as −1%; it must be between 0% and 100%"),
    ("12,5", MONEY_DECIMAL_COMMA.format(text="12,5", suggestion="12.5%")),
    ("1e2", "scientific notation"),
    ("12.12345", "has 5 decimals; a percentage here has at most 4: type e.g. 12.1234%"),
    ("half", "“half” is not a percentage"),
    ("", "Type a percentage"),
    ("5\x00", "control character"),
    ("nan", "is not a percentage"),
])
def test_parse_rate_percent_refuses(text, part):
    with pytest.raises(ValueError, match=".") as caught:
        parse_rate_percent(text)
    assert part in str(caught.value)


def test_parse_rate_percent_bounds_can_be_told():
    assert parse_rate_percent("150", high=Decimal(200)) == Decimal("1.5")


@pytest.mark.parametrize(("rate", "text"), [(Decimal("0.125"), "12.5%"), (Decimal("0.5"), "50%"),
                                            (Decimal("1"), "100%"), (Decimal("0"), "0%"),
                                            (Decimal("0.500000"), "50%"), (None, "—")])
def test_format_percent(rate, text):
    assert format_percent(rate) == text


# --- form fields -----------------------------------------------------------------------------------------

class BudgetForm(MoneyFormMixin, forms.Form):
    currency = CurrencyChoiceField()
    budget = MoneyField(minimum=0)
    share = PercentField(required=False)

    def money_currency(self, data):
        return data.get("currency") or self.initial.get("currency")


def test_money_field_shows_minor_units_as_major_with_the_currency_beside():
    form = BudgetForm(initial={"currency": "USD", "budget": 10_000_000_000, "share": Decimal("0.125")})
    html = str(form["budget"])
    assert 'value="100,000,000.00"' in html
    assert 'inputmode="decimal"' in html
    assert '<span class="money-currency" data-currency="USD">USD</span>' in html
    assert "In USD, e.g. 1,234.56" in form.fields["budget"].help_text
    assert 'value="12.5%"' in str(form["share"])


def test_money_field_reads_the_amount_in_the_currency_chosen_on_the_same_form():
    form = BudgetForm(data={"currency": "JPY", "budget": "1,000", "share": "50"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"currency": "JPY", "budget": 1000, "share": Decimal("0.5")}

    form = BudgetForm(data={"currency": "JPY", "budget": "1.50"})
    assert not form.is_valid()
    assert form.errors["budget"] == [MONEY_NO_DECIMALS.format(text="1.50", currency="JPY", suggestion="1")]


def test_money_field_rereads_an_amount_when_the_currency_changes_in_the_same_submit():
    form = BudgetForm(data={"currency": "BHD", "budget": "1.234"}, initial={"currency": "USD"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["budget"] == 1234


def test_money_field_errors_say_what_was_understood():
    form = BudgetForm(data={"currency": "USD", "budget": "12,50"})
    assert not form.is_valid()
    assert form.errors["budget"] == [MONEY_DECIMAL_COMMA.format(text="12,50", suggestion="12.50")]
    form = BudgetForm(data={"currency": "USD", "budget": "-1.00"})
    assert not form.is_valid()
    assert form.errors["budget"] == [MONEY_BELOW_MINIMUM.format(amount="−1.00 USD", minimum="0.00 USD")]


def test_currency_choices_come_from_babel_and_keep_a_stored_historic_code():
    field = CurrencyChoiceField()
    codes = [code for code, _label in field.choices]
    assert codes == sorted(CURRENCIES)
    assert dict(field.choices)["JPY"] == "JPY — Japanese Yen"
    with pytest.raises(forms.ValidationError):
        field.clean("ITL")
    field.keep("ITL")
    assert field.clean("ITL") == "ITL"


def test_a_missing_amount_stays_required_whichever_currency_is_chosen():
    form = BudgetForm(data={"currency": "JPY", "budget": ""}, initial={"currency": "USD"})
    assert not form.is_valid()
    assert form.errors["budget"] == ["This field is required."]


def test_an_amount_without_a_currency_says_to_choose_it_first():
    form = BudgetForm(data={"currency": "", "budget": "12.50"})
    assert not form.is_valid()
    assert form.errors["budget"] == ["Choose the currency first: the amount is read in its decimals."]
