"""The project's template filters for numbers, money, months and times ({% load numbers %}); core.display does the
formatting, so a column in Python and a cell in a template read the same. A value that is not what a filter reads
is shown unchanged: a template never fails on it."""

from __future__ import annotations

from typing import Any

from django import template

from core import display
from core.money import format_percent

register = template.Library()


@register.filter
def count(value: Any) -> Any:
    """{{ 14518531|count }} → 14,518,531"""
    try:
        return display.format_count(value)
    except (TypeError, ValueError, ArithmeticError):
        return value


@register.filter
def compact(value: Any) -> Any:
    """{{ 14518531|compact }} → 14.5M"""
    try:
        return display.format_compact(value)
    except (TypeError, ValueError, ArithmeticError):
        return value


@register.filter
def percent(value: Any, places: Any = 2) -> Any:
    """{{ statistics.engagement_rate|percent }} → 2.75% (the value is already in percent)."""
    try:
        return display.format_percent_points(value, int(places))
    except (TypeError, ValueError, ArithmeticError):
        return value


@register.filter
def rate(value: Any) -> Any:
    """{{ terms.revenue_share_rate|rate }} → 55% (the value is a fraction)."""
    try:
        return format_percent(value)
    except (TypeError, ValueError, ArithmeticError):
        return value


@register.filter
def month(value: Any) -> Any:
    """{{ run.month|month }} → November 2026"""
    try:
        return display.format_month(value)
    except (TypeError, ValueError, AttributeError):
        return value


@register.filter
def when(value: Any, zone: Any = None) -> Any:
    """{{ run.computed_at|when }} → 2026-11-04 14:03 UTC; {{ at|when:program.time_zone }} in the program's zone."""
    try:
        return display.format_timestamp(value, zone)
    except (TypeError, ValueError, AttributeError):
        return value


@register.filter
def money(amount_minor: Any, currency: Any) -> Any:
    """{{ line.net_minor|money:run.currency }} → <span class="money">1,234.56 USD</span>, one line."""
    try:
        return display.money_html(amount_minor, currency)
    except (TypeError, ValueError, ArithmeticError):
        return amount_minor
