"""Money helpers live in partnerships.money (brand campaigns need them too, and partnerships may not import
payouts); this module keeps the payouts side's imports short."""

from partnerships.money import EXPONENTS, MAX_MINOR, exponent, format_money, parse_money, round_half_even, to_major

__all__ = ["EXPONENTS", "MAX_MINOR", "exponent", "format_money", "parse_money", "round_half_even", "to_major"]
