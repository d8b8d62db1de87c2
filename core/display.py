"""Numbers, months and times for people, in one place: what the admin's columns and the project's templates show.

Money is core.money's (format_money); this module adds what money is shown beside: counts with separators, compact
reach ("14.5M"), percents with their sign, months in words and timestamps that always name their zone. English is
the house format; other active languages get their locale's separators from babel (CLDR), as core.money does.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import ROUND_HALF_EVEN, Decimal

from babel.numbers import format_compact_decimal
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.money import EXPONENTS, format_count_for_reader, format_money, format_money_for_reader

EMPTY = "—"


def _locale() -> str:
    return translation.to_locale(translation.get_language() or "en")


def format_count(value: int | Decimal | None) -> str:
    """A whole count with thousands separators: 14518531 → '14,518,531'."""
    if value is None or value == "":
        return EMPTY
    return format_count_for_reader(int(value))


def format_compact(value: int | Decimal | None) -> str:
    """Reach to compare at a glance: 14518531 → '14.5M', 13240 → '13.2K', 950 → '950'."""
    if value is None or value == "":
        return EMPTY
    return format_compact_decimal(int(value), locale=_locale(), fraction_digits=1)


def format_percent_points(value: Decimal | float | int | None, places: int = 2) -> str:
    """A number that is already in percent, with its sign: Decimal('2.75') → '2.75%'."""
    if value is None or value == "":
        return EMPTY
    quantum = Decimal(1).scaleb(-places)
    number = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_EVEN)
    text = f"{abs(number):,.{places}f}"
    return f"{'−' if number < 0 else ''}{text}%"


def format_month(value: dt.date | None) -> str:
    """A month as people say it: date(2026, 11, 1) → 'November 2026'."""
    if value is None:
        return EMPTY
    return f"{value:%B %Y}"


def _zone(name: str | dt.tzinfo | None) -> dt.tzinfo:
    if isinstance(name, dt.tzinfo):
        return name
    if name:
        try:
            return zoneinfo.ZoneInfo(str(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.get_current_timezone()


def format_timestamp(value: dt.datetime | None, zone: str | dt.tzinfo | None = None) -> str:
    """A moment with the zone it is read in, never bare: '2026-11-04 14:03 UTC', '2026-11-04 09:03 EST'.

    ``zone`` is where it matters to the reader, e.g. a program's time zone; without it, the active zone."""
    if value is None:
        return EMPTY
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    local = value.astimezone(_zone(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or local.strftime('%z')}"


def money_text(amount_minor: int | None, currency: str) -> str:
    """An amount beside its currency in the reader's language: '1,234.56 USD', '1.234,56 USD' in Spanish."""
    if currency in EXPONENTS:
        return format_money_for_reader(amount_minor, currency)
    return format_money(amount_minor, currency)


def money_html(amount_minor: int | None, currency: str) -> SafeString:
    """money_text in a span that keeps it on one line, right-aligned (the ``.money`` class of
    templates/admin/base_site.html: white-space nowrap). The text keeps its plain space so that what is copied,
    searched or read aloud is what core.money writes everywhere else."""
    return format_html('<span class="money">{}</span>', money_text(amount_minor, currency))
