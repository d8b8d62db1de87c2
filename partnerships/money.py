"""Money for people: minor units ↔ text, in one place (used by partnerships and payouts alike)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 exponents that are not 2; every other currency has cents.
EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "JOD": 3, "TND": 3}


MAX_MINOR = 10**15  # ten trillion in major units of a two-decimal currency: far beyond any fund, far inside bigint


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency.upper(), 2)


def to_major(amount_minor: int, currency: str) -> Decimal:
    """Exact major units, e.g. 1728 USD → Decimal('17.28'). For exports that must stay numbers."""
    return Decimal(amount_minor).scaleb(-exponent(currency))


def format_money(amount_minor: int | None, currency: str) -> str:
    """'1,234.56 USD', '−5.00 EUR', '1,000 JPY'."""
    if amount_minor is None:
        return "—"
    places = exponent(currency)
    text = f"{abs(to_major(amount_minor, currency)):,.{places}f}"
    return f"{'−' if amount_minor < 0 else ''}{text} {currency}"


def parse_money(text: str, currency: str) -> int:
    """'1,234.56' → 123456 minor units. Refuses more decimals than the currency has."""
    cleaned = str(text).replace(",", "").replace(" ", "").replace("−", "-")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount.") from exc
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount.")
    scaled = value.scaleb(exponent(currency))
    if abs(scaled) > MAX_MINOR:
        raise ValueError(f"{text!r} is larger than any amount this system holds.")
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more decimals than {currency} allows ({exponent(currency)}).")
    return int(scaled)


def round_half_even(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))
