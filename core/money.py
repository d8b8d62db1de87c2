"""Money for people: minor units ↔ text, in one place (used by partnerships and payouts alike).

Amounts are stored as integer minor units of an ISO 4217 currency; people type and read them in major units beside
the currency code. The currency table comes from babel (CLDR): the codes it knows and each one's decimals.

Parsing is strict because a misread amount is paid: "12,50" could be twelve and a half or twelve hundred and fifty,
so it is refused with what was understood and what to type instead, never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

from babel.core import get_global
from babel.numbers import format_currency, format_decimal, get_currency_name, get_currency_precision, list_currencies
from django.utils import translation

# CLDR's "digits" is how many decimals a currency is *shown* with; ISO 4217's minor unit is what its smallest stored
# amount is. They agree except for these, where CLDR shows whole units by custom but the currency (and every bank
# file, and the amounts already stored here) has a minor unit. Minor units must mean what they meant when stored:
# these keep ISO 4217's exponent. A test pins this list to exactly the currencies where babel disagrees.
ISO_4217_WHERE_CLDR_DIFFERS = {
    "AFN": 2, "ALL": 2, "COP": 2, "HUF": 2, "IDR": 2, "IQD": 3, "IRR": 2, "KPW": 2, "LAK": 2, "LBP": 2, "MGA": 2,
    "MMK": 2, "SOS": 2, "SYP": 2, "YER": 2,
}


def _exponents() -> dict[str, int]:
    codes = {code for code in list_currencies() if re.fullmatch(r"[A-Z]{3}", code)}
    return {code: ISO_4217_WHERE_CLDR_DIFFERS.get(code, get_currency_precision(code)) for code in sorted(codes)}


def _in_circulation() -> tuple[str, ...]:
    """Currencies that are legal tender somewhere today (CLDR's territory data): the ones offered for new money."""
    codes = {code for currencies in get_global("territory_currencies").values()
             for code, _start, end, tender in currencies if end is None and tender}
    return tuple(sorted(codes & set(EXPONENTS)))


EXPONENTS: dict[str, int] = _exponents()  # every ISO 4217 code babel knows, current or historic → its exponent
CURRENCIES: tuple[str, ...] = _in_circulation()  # the codes new funds, programs and campaigns may use

MAX_MINOR = 10**15  # ten trillion in major units of a two-decimal currency: far beyond any fund, far inside bigint
MAX_TEXT = 40  # longer than any amount anyone types

UNKNOWN_CURRENCY = "“{currency}” is not an ISO 4217 currency code this system knows; use one such as USD or EUR."
MONEY_EMPTY = "Type an amount, e.g. {example}."
MONEY_TOO_LONG = "The amount is {length} characters long; type just the amount (at most {limit}), e.g. {example}."
MONEY_CONTROL_CHARACTER = ("The amount holds an invisible control character ({name}); type just the amount, "
                           "e.g. {example}.")
MONEY_NOT_ASCII_DIGITS = "“{text}” is written with {name} digits; type it with the digits 0–9: {suggestion}"
MONEY_DECIMAL_COMMA = "“{text}” looks like a decimal comma; this field takes a point for decimals: type {suggestion}"
MONEY_EXPONENT = "“{text}” is scientific notation; type the amount in full digits: {suggestion}"
MONEY_NOT_FINITE = "“{text}” is not a number; type an amount, e.g. {example}."
MONEY_OTHER_CURRENCY = "“{text}” is in {typed}, but this amount is in {currency}: type just the amount in {currency}."
MONEY_NOT_AN_AMOUNT = ("“{text}” is not an amount; type digits with a point for decimals and, if you like, commas "
                       "between thousands, e.g. {example}.")
MONEY_TOO_MANY_DECIMALS = "“{text}” has {places} decimals but {currency} has {allowed}: type e.g. {suggestion}"
MONEY_NO_DECIMALS = "“{text}” has decimals but {currency} has none: type a whole amount, e.g. {suggestion}"
MONEY_TOO_LARGE = "“{text}” is more than {limit}, the largest amount this system holds."

PERCENT_EMPTY = "Type a percentage, e.g. {example}."
PERCENT_NOT_A_NUMBER = "“{text}” is not a percentage; type a number with a point for decimals, e.g. {example}."
PERCENT_TOO_MANY_DECIMALS = ("“{text}” has {places} decimals; a percentage here has at most {allowed}: "
                             "type e.g. {suggestion}")
PERCENT_EXPONENT = "“{text}” is scientific notation; type the percentage in full digits, e.g. 12.5"
PERCENT_OUT_OF_RANGE = "“{text}” is understood as {value}; it must be between {low} and {high}."

_SPACES = {"\u00a0": " ", "\u202f": " ", "\u2009": " "}  # no-break and thin spaces, as people paste them
_AMOUNT = re.compile(r"(?P<sign>[-−])?(?P<whole>[0-9]{1,3}(?:(?P<sep>[, ])[0-9]{3}(?:(?P=sep)[0-9]{3})*)?|[0-9]+)"
                     r"(?:\.(?P<fraction>[0-9]+))?")
_SCIENTIFIC = re.compile(r"[-−+]?[0-9][0-9.,]*[eE][-+]?[0-9]+")
_DECIMAL_COMMA = re.compile(r"[-−]?[0-9][0-9., ]*,(?P<last>[0-9]+)")
_NOT_FINITE = re.compile(r"[-−+]?(inf|infinity|nan|snan)", re.IGNORECASE)
_TRAILING_CODE = re.compile(r"(?P<amount>.*?)\s*(?P<code>[A-Za-z]{3})")
_PERCENT = re.compile(r"(?P<sign>[-−])?(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")


class UnknownCurrency(ValueError):
    pass


def exponent(currency: str) -> int:
    """Decimals of a currency (USD 2, JPY 0, BHD 3). An unknown code is an error, never a guess of 2."""
    try:
        return EXPONENTS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrency(UNKNOWN_CURRENCY.format(currency=currency)) from None


def currency_name(currency: str) -> str:
    return get_currency_name(currency, locale="en")


def to_major(amount_minor: int, currency: str) -> Decimal:
    """Exact major units, e.g. 1728 USD → Decimal('17.28'). For exports that must stay numbers."""
    return Decimal(amount_minor).scaleb(-exponent(currency))


def format_amount(amount_minor: int, currency: str) -> str:
    """The amount without its currency, as a form shows it back: '1,234.56', '−5.00', '1,000'."""
    text = f"{abs(to_major(amount_minor, currency)):,.{exponent(currency)}f}"
    return f"{'−' if amount_minor < 0 else ''}{text}"


def format_money(amount_minor: int | None, currency: str) -> str:
    """'1,234.56 USD', '−5.00 EUR', '1,000 JPY'."""
    if amount_minor is None:
        return "—"
    if currency not in EXPONENTS:  # stored before codes were checked: show what is there rather than guess decimals
        return f"{amount_minor} minor units of “{currency}”"
    return f"{format_amount(amount_minor, currency)} {currency}"


def example_amount(currency: str | None) -> str:
    """What to type, in the currency's decimals: '1,234.56' (USD), '1,234' (JPY), '1,234.560' (BHD)."""
    if currency not in EXPONENTS:
        return "1,234.56"
    places = exponent(currency)
    return f"{Decimal('1234.56').quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN):,.{places}f}"


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, float):
        return repr(value)  # a spreadsheet cell: the shortest text that is this float, then parsed like any text
    return None


def _clean_text(value: object, example: str, *, empty: str) -> str:
    """Checks every parser shares: present, short, no control characters, digits 0–9 only."""
    text = _as_text(value)
    if text is None or not text.strip():
        raise ValueError(empty.format(example=example))
    text = text.strip()
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf"):
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            raise ValueError(MONEY_CONTROL_CHARACTER.format(name=name, example=example))
    text = "".join(_SPACES.get(char, char) for char in text).strip()
    if len(text) > MAX_TEXT:
        raise ValueError(MONEY_TOO_LONG.format(length=len(text), limit=MAX_TEXT, example=example))
    foreign = [char for char in text if unicodedata.category(char) == "Nd" and not "0" <= char <= "9"]
    if foreign:
        script = unicodedata.name(foreign[0], "").rsplit(" DIGIT", 1)[0].title() or "other"
        suggestion = "".join(str(unicodedata.digit(c)) if c in foreign else
                             "." if c in "٫" else "" if c in "٬" else c for c in text)
        raise ValueError(MONEY_NOT_ASCII_DIGITS.format(text=text, name=script, suggestion=suggestion))
    return text


def _full_digits(value: Decimal) -> str:
    return format(value, "f")


def parse_money(text: object, currency: str) -> int:
    """'1,234.56' → 123456 minor units of USD; refuses anything it would have to guess at, saying what it understood.

    Accepted: digits 0–9 with a point for decimals, commas or spaces between groups of three, a leading minus
    ('-' or '−'), and the amount's own currency code after it ('12.50 USD', as format_money writes it)."""
    places = exponent(currency)
    example = example_amount(currency)
    text = _clean_text(text, example, empty=MONEY_EMPTY)
    coded = _TRAILING_CODE.fullmatch(text)
    if coded and re.search(r"[0-9]", coded["amount"]):
        if coded["code"].upper() != currency:
            raise ValueError(MONEY_OTHER_CURRENCY.format(text=text, typed=coded["code"].upper(), currency=currency))
        text = coded["amount"]
    if _NOT_FINITE.fullmatch(text):
        raise ValueError(MONEY_NOT_FINITE.format(text=text, example=example))
    if _SCIENTIFIC.fullmatch(text):
        try:
            value = Decimal(text.replace(",", "").replace("−", "-"))
        except InvalidOperation:
            value = None
        if value is not None and "," not in text and value.is_finite() and abs(value) < 10**18:
            suggestion = _full_digits(value)
        else:
            suggestion = "the amount without “e”"
        raise ValueError(MONEY_EXPONENT.format(text=text, suggestion=suggestion))
    comma = _DECIMAL_COMMA.fullmatch(text)
    if comma and (len(comma["last"]) != 3 or "." in text):
        head, _, tail = text.rpartition(",")
        suggestion = head.replace(".", "").replace(",", "").replace(" ", "") + "." + tail
        raise ValueError(MONEY_DECIMAL_COMMA.format(text=text, suggestion=suggestion.replace("−", "-")))
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise ValueError(MONEY_NOT_AN_AMOUNT.format(text=text, example=example))
    whole = match["whole"].replace(",", "").replace(" ", "")
    fraction = match["fraction"] or ""
    negative = match["sign"] is not None
    if len(fraction) > places:
        kept = fraction[:places]
        suggestion = f"{'-' if negative else ''}{whole}{'.' + kept if places else ''}"
        if places == 0:
            raise ValueError(MONEY_NO_DECIMALS.format(text=text, currency=currency, suggestion=suggestion))
        raise ValueError(MONEY_TOO_MANY_DECIMALS.format(text=text, places=len(fraction), currency=currency,
                                                        allowed=places, suggestion=suggestion))
    if len(whole) > 20:
        raise ValueError(MONEY_TOO_LARGE.format(text=text, limit=format_money(MAX_MINOR, currency)))
    scale: int = 10**places
    minor = int(whole) * scale + int(fraction.ljust(places, "0") or 0)
    if minor > MAX_MINOR:
        raise ValueError(MONEY_TOO_LARGE.format(text=text, limit=format_money(MAX_MINOR, currency)))
    return -minor if negative else minor


def parse_rate_percent(text: object, *, low: Decimal = Decimal(0), high: Decimal = Decimal(100),
                       places: int = 4) -> Decimal:
    """'50' or '50%' → Decimal('0.50'); '12.5 %' → Decimal('0.125'). A percentage typed by a person, returned as the
    fraction the models store, between low and high percent, with at most `places` decimals of percent."""
    example = "12.5%"
    text = _clean_text(text, example, empty=PERCENT_EMPTY)
    number = re.sub(r"\s*%$", "", text)
    if _NOT_FINITE.fullmatch(number):
        raise ValueError(PERCENT_NOT_A_NUMBER.format(text=text, example=example))
    if _SCIENTIFIC.fullmatch(number):
        raise ValueError(PERCENT_EXPONENT.format(text=text))
    comma = re.fullmatch(r"[-−]?[0-9]+,(?P<last>[0-9]+)", number)
    if comma:
        raise ValueError(MONEY_DECIMAL_COMMA.format(text=text, suggestion=number.replace(",", ".") + "%"))
    match = _PERCENT.fullmatch(number)
    if match is None:
        raise ValueError(PERCENT_NOT_A_NUMBER.format(text=text, example=example))
    fraction = match["fraction"] or ""
    if len(fraction) > places:
        suggestion = f"{match['whole']}{'.' + fraction[:places] if places else ''}%"
        raise ValueError(PERCENT_TOO_MANY_DECIMALS.format(text=text, places=len(fraction), allowed=places,
                                                          suggestion=suggestion))
    percent = Decimal(f"{'-' if match['sign'] else ''}{match['whole']}.{fraction or '0'}")
    if not low <= percent <= high:
        raise ValueError(PERCENT_OUT_OF_RANGE.format(text=text, value=format_percent(percent.scaleb(-2)),
                                                     low=format_percent(low.scaleb(-2)),
                                                     high=format_percent(high.scaleb(-2))))
    return percent.scaleb(-2)


def format_percent(rate: Decimal | None) -> str:
    """Decimal('0.125') → '12.5%', Decimal('0.5') → '50%', Decimal('1') → '100%'."""
    if rate is None:
        return "—"
    percent = Decimal(rate).scaleb(2)
    text = _full_digits(percent.normalize()) if percent != 0 else "0"
    return f"{'−' + text[1:] if text.startswith('-') else text}%"


def round_half_even(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


# Text for a reader in the active language. English keeps the house format above, character for character (the admin,
# exports and every English page read it); other languages get their locale's separators from babel (CLDR):
# "1.500,00 EUR", "12.345", "25,0000 %" in Spanish.


def _reader_locale() -> str | None:
    """The active language's locale, or None where the house (English) format applies."""
    language = translation.get_language() or "en"
    return None if language.startswith("en") else translation.to_locale(language)


def format_count_for_reader(value: int) -> str:
    """A count (views, followers): '12,345' in English, '12.345' in Spanish."""
    locale = _reader_locale()
    return f"{value:,}" if locale is None else format_decimal(value, locale=locale)


def format_money_for_reader(amount_minor: int | None, currency: str) -> str:
    """An amount with its currency's decimals and ISO code: '1,500.00 USD' in English, '1.500,00 USD' in Spanish."""
    locale = _reader_locale()
    if locale is None or amount_minor is None or currency not in EXPONENTS:
        return format_money(amount_minor, currency)
    places = exponent(currency)  # ISO 4217's minor unit, as stored (CLDR's display digits differ for a few)
    pattern = "#,##0" + ("." + "0" * places if places else "") + " ¤¤"
    return format_currency(to_major(amount_minor, currency), currency, format=pattern, locale=locale,
                           currency_digits=False)


def format_share_for_reader(part: int, whole: int) -> str:
    """part/whole as a percent to four decimals, exactly rounded (half-even): '25.0000%', '25,0000 %' in Spanish."""
    percent = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN) \
        if whole else Decimal(0)
    locale = _reader_locale()
    if locale is None:
        return f"{percent:.4f}%" if whole else "0%"
    return f"{format_decimal(percent, format='#,##0.0000', locale=locale)}\u00a0%"


def format_percent_for_reader(rate: Decimal | None) -> str:
    """format_percent in the reader's language: '12.5%', '12,5 %' in Spanish."""
    locale = _reader_locale()
    if locale is None or rate is None:
        return format_percent(rate)
    percent = Decimal(rate).scaleb(2).normalize()
    return f"{format_decimal(percent, locale=locale, decimal_quantization=False)}\u00a0%"
