"""Months, the unit every program pays in, and a program's today (programs keep their own time zone)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month `count` months after (or before, when negative) the month of `month`."""
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def next_month(month: dt.date) -> dt.date:
    return add_months(month, 1)


def month_end(month: dt.date) -> dt.date:
    return next_month(month) - dt.timedelta(days=1)


def months_between(first: dt.date, last: dt.date) -> int:
    """How many month boundaries lie between two months: 0 for the same month, 1 for the next."""
    return (last.year - first.year) * 12 + last.month - first.month


def months_in(first_day: dt.date, last_day: dt.date) -> list[dt.date]:
    """The first days of every month that the days first_day..last_day touch, in order."""
    first = month_start(first_day)
    return [add_months(first, index) for index in range(months_between(first, last_day) + 1)]


def today_in(time_zone: str) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def previous_month_in(time_zone: str) -> dt.date:
    return add_months(today_in(time_zone), -1)
