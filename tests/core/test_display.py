"""The formatting layer (core.display) and its template filters ({% load numbers %}): what every admin column and
project template shows for counts, reach, percents, months, timestamps and money."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from core.display import format_compact, format_count, format_month, format_percent_points, format_timestamp


def render(text: str, **context) -> str:
    return Template("{% load numbers %}" + text).render(Context(context))


@pytest.mark.parametrize(("value", "expected"), [
    (14518531, "14,518,531"), (13240, "13,240"), (9999, "9,999"), (0, "0"), (-12000, "-12,000"), (None, "—"),
])
def test_a_count_has_thousands_separators(value, expected):
    assert format_count(value) == expected
    assert render("{{ value|count }}", value=value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (14518531, "14.5M"), (13240, "13.2K"), (950, "950"), (1_000_000, "1M"), (2_460_000_000, "2.5B"),
])
def test_reach_is_compact(value, expected):
    assert format_compact(value) == expected
    assert render("{{ value|compact }}", value=value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("2.75"), "2.75%"), (Decimal("0"), "0.00%"), (Decimal("-1.5"), "−1.50%"), (Decimal("12.345"), "12.34%"),
])
def test_a_percent_carries_its_sign(value, expected):
    assert format_percent_points(value) == expected
    assert render("{{ value|percent }}", value=value) == expected


def test_a_fraction_reads_as_a_percent():
    assert render("{{ value|rate }}", value=Decimal("0.125")) == "12.5%"


def test_a_month_is_named():
    assert format_month(dt.date(2026, 11, 1)) == "November 2026"
    assert render("{{ value|month }}", value=dt.date(2026, 10, 1)) == "October 2026"


def test_a_timestamp_always_names_its_zone():
    moment = dt.datetime(2026, 11, 4, 14, 3, tzinfo=dt.UTC)

    assert format_timestamp(moment) == "2026-11-04 14:03 UTC"
    assert format_timestamp(moment, "America/New_York") == "2026-11-04 09:03 EST"
    assert render("{{ at|when:zone }}", at=moment, zone="Europe/Paris") == "2026-11-04 15:03 CET"


def test_an_unknown_zone_falls_back_to_the_active_zone_never_an_error():
    moment = dt.datetime(2026, 11, 4, 14, 3, tzinfo=dt.UTC)

    with timezone.override("UTC"):
        assert format_timestamp(moment, "Mars/Olympus") == "2026-11-04 14:03 UTC"


def test_money_stays_beside_its_currency_on_one_line():
    html = render("{{ amount|money:currency }}", amount=123456789, currency="USD")

    assert html == '<span class="money">1,234,567.89 USD</span>'


def test_money_in_a_currency_without_decimals_and_negative():
    assert render("{{ amount|money:'JPY' }}", amount=-15000) == '<span class="money">−15,000 JPY</span>'


def test_money_for_a_spanish_reader_uses_its_separators():
    with translation.override("es"):
        assert render("{{ amount|money:'EUR' }}", amount=150000) == '<span class="money">1.500,00 EUR</span>'


def test_a_filter_given_something_that_is_not_a_number_shows_it_unchanged():
    assert render("{{ value|count }}|{{ value|compact }}|{{ value|percent }}", value="n/a") == "n/a|n/a|n/a"


def test_the_admin_shows_datetimes_with_their_zone():
    from django.utils.formats import date_format

    with translation.override("en"):
        assert date_format(dt.datetime(2026, 11, 4, 14, 3, tzinfo=dt.UTC), "DATETIME_FORMAT") == "4 Nov 2026, 14:03 UTC"
