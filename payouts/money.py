"""Money helpers live in partnerships.money (brand campaigns need them too, and partnerships may not import
payouts); this module keeps the payouts side's imports short."""

from partnerships.money import (
    CURRENCIES,
    EXPONENTS,
    MAX_MINOR,
    UnknownCurrency,
    exponent,
    format_amount,
    format_money,
    format_percent,
    parse_money,
    parse_rate_percent,
    round_half_even,
    to_major,
)

__all__ = ["CURRENCIES", "EXPONENTS", "MAX_MINOR", "UnknownCurrency", "exponent", "format_amount", "format_money",
           "format_percent", "parse_money", "parse_rate_percent", "round_half_even", "to_major"]
