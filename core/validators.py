"""The shapes of codes and names every app checks: written once, as patterns, validators and a helper for lists."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator

# A day's count (views, likes, followers…): nothing real comes near 10**15, and a month of such days still sums
# within a bigint (the monthly rollups hold sums of up to 31 of them).
MAX_DAILY_COUNT = 10**15 - 1
DAILY_COUNT_VALIDATORS = [
    MaxValueValidator(MAX_DAILY_COUNT, f"Use a count up to {MAX_DAILY_COUNT:,}: no day has more."),
]

COUNTRY_CODE_PATTERN = re.compile(r"[A-Z]{2}")
CURRENCY_CODE_PATTERN = re.compile(r"[A-Z]{3}")
HANDLE_PATTERN = re.compile(r"[a-z0-9._]{2,40}")

COUNTRY_CODE_VALIDATOR = RegexValidator(rf"^{COUNTRY_CODE_PATTERN.pattern}$",
                                        "Use a two-letter ISO 3166 country code, e.g. US.")
CURRENCY_CODE_VALIDATOR = RegexValidator(rf"^{CURRENCY_CODE_PATTERN.pattern}$",
                                         "Use a three-letter ISO 4217 currency code, e.g. USD.")
HANDLE_REGEX = rf"^{HANDLE_PATTERN.pattern}$"  # anchored: for validators and the API's schema
HANDLE_VALIDATOR = RegexValidator(HANDLE_REGEX,
                                  "A handle is 2-40 lower-case letters, digits, dots or underscores.")


def is_country_code(value: object) -> bool:
    return isinstance(value, str) and COUNTRY_CODE_PATTERN.fullmatch(value) is not None


def bad_country_codes(values: Iterable[object]) -> list[object]:
    """The values of a list that are not two upper-case letters, in their order."""
    return [value for value in values if not is_country_code(value)]


# Dates people plan by (campaigns): a year such as 0001 or 9999 is a typing slip, refused with the range named.
EARLIEST_PLAN_DATE, LATEST_PLAN_DATE = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
PLAN_DATE_RANGE = f"Use a date from {EARLIEST_PLAN_DATE:%Y-%m-%d} to {LATEST_PLAN_DATE:%Y-%m-%d}."
PLAN_DATE_VALIDATORS = [MinValueValidator(EARLIEST_PLAN_DATE, PLAN_DATE_RANGE),
                        MaxValueValidator(LATEST_PLAN_DATE, PLAN_DATE_RANGE)]
