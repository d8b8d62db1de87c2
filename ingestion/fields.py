"""One value of an imported row: parsed, or refused with the reason people read.

Bulk ingestion and the admin's spreadsheet import use the same parsers, so a value is accepted or refused with
the same words in both. A parser returns the clean value or raises ValueError whose message is the reason.
Values come as text from CSV files and as numbers, dates or text from XLSX cells."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.utils import timezone

from core.validators import CURRENCY_CODE_PATTERN as CURRENCY_PATTERN
from core.validators import HANDLE_PATTERN, MAX_DAILY_COUNT
from ingestion.exceptions import (
    BAD_COUNT,
    BAD_CURRENCY,
    BAD_DATE,
    BAD_FLAG,
    BAD_HANDLE,
    COUNT_TOO_LARGE,
    FUTURE_DATE,
    NEGATIVE_COUNT,
    VALUE_MISSING,
    VALUE_NOT_UTF8,
)

MAX_COUNT = MAX_DAILY_COUNT  # a day of a month whose sum must stay within bigint (core.validators)
_UNDECODABLE = re.compile("[\udc80-\udcff]+")  # bytes that were not UTF-8, kept by the "surrogateescape" decoder
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
DISPLAY_LIMIT = 120


def undecodable_bytes(text: str) -> str | None:
    """'0xE9 0xFF' when the text holds bytes that were not UTF-8 (decoded with "surrogateescape"), else None."""
    found = _UNDECODABLE.findall(text)
    if not found:
        return None
    raw = "".join(found).encode("utf-8", "surrogateescape")[:8]
    return " ".join(f"0x{byte:02X}" for byte in raw)


def display(value) -> str:
    """A value as a report shows it: undecodable bytes and control characters escaped, long text cut."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if _UNDECODABLE.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = _UNPRINTABLE.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return text if len(text) <= DISPLAY_LIMIT else text[: DISPLAY_LIMIT - 1] + "…"


def _text(value) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value)).strip()


def _refuse(template: str, text: str) -> ValueError:
    bad = undecodable_bytes(text)
    if bad:
        return ValueError(VALUE_NOT_UTF8.format(bytes=bad))
    return ValueError(template.format(value=display(text)))


def latest_day() -> dt.date:
    """The latest day a figure can be for: tomorrow in UTC, so every time zone's today is accepted."""
    return timezone.now().date() + dt.timedelta(days=1)


def _matching(value, pattern: re.Pattern, template: str) -> str:
    text = _text(value)
    if not text:
        raise ValueError(VALUE_MISSING)
    if pattern.fullmatch(text) is None:
        raise _refuse(template, text)
    return text


def parse_handle(value) -> str:
    return _matching(value, HANDLE_PATTERN, BAD_HANDLE)


def parse_day(value, *, latest: dt.date | None = None) -> dt.date:
    if isinstance(value, dt.datetime):  # an XLSX date cell
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        text = _text(value)
        if not text:
            raise ValueError(VALUE_MISSING)
        # fromisoformat alone also takes 20260901 and week dates: only the one unambiguous form is accepted.
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise _refuse(BAD_DATE, text)
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise _refuse(BAD_DATE, text) from None
    if day > (latest or latest_day()):
        raise ValueError(FUTURE_DATE.format(value=day.isoformat()))
    return day


def parse_count(value) -> int:
    if isinstance(value, bool):
        raise ValueError(BAD_COUNT.format(value=value))
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | Decimal):  # an XLSX number cell
        if value != value or value in (float("inf"), float("-inf")) or value != int(value):
            raise ValueError(BAD_COUNT.format(value=value))
        number = int(value)
    else:
        text = _text(value)
        if not text:
            raise ValueError(VALUE_MISSING)
        if text.isascii() and text.isdigit():
            number = int(text)
        elif text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
            number = -int(text[1:])
        else:
            raise _refuse(BAD_COUNT, text)
    if number < 0:
        raise ValueError(NEGATIVE_COUNT.format(value=number))
    if number > MAX_COUNT:
        raise ValueError(COUNT_TOO_LARGE.format(value=number))
    return number


def parse_currency(value) -> str:
    return _matching(value, CURRENCY_PATTERN, BAD_CURRENCY)


FLAG_TRUE = {"true", "yes", "1", "y"}
FLAG_FALSE = {"false", "no", "0", "n", ""}


def parse_flag(value) -> bool:
    """yes/no, true/false, 1/0 (any case); an empty cell is no. Anything else is refused, never read as "no"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = _text(value).lower()
    if text in FLAG_TRUE:
        return True
    if text in FLAG_FALSE:
        return False
    raise _refuse(BAD_FLAG, text)
