"""The project's template filters for numbers, money, months and times ({% load numbers %}); core.display does the
formatting, so a column in Python and a cell in a template read the same."""

from __future__ import annotations

from django import template

from core import display
from core.money import format_percent

register = template.Library()


@register.filter
def count(value):
    """{{ 14518531|count }} → 14,518,531"""
    try:
        return display.format_count(value)
    except (TypeError, ValueError, ArithmeticError):
        return value


@register.filter
def compact(value):
    """{{ 14518531|compact }} → 14.5M"""
    try:
        return display.format_compact(value)
    except (TypeError, ValueError, ArithmeticError):
        return value


@register.filter
def percent(value, places=2):
    """{{ statistics.engagement_rate|percent }} → 2.75% (the value is already in percent)."""
    try:
        return display.format_percent_points(value, int(places))
    except (TypeError, ValueError, ArithmeticError):
        return value


@register.filter
def rate(value):
    """{{ terms.revenue_share_rate|rate }} → 55% (the value is a fraction)."""
    try:
        return format_percent(value)
    except (TypeError, ValueError, ArithmeticError):
        return value


@register.filter
def month(value):
    """{{ run.month|month }} → November 2026"""
    try:
        return display.format_month(value)
    except (TypeError, ValueError, AttributeError):
        return value


@register.filter
def when(value, zone=None):
    """{{ run.computed_at|when }} → 2026-11-04 14:03 UTC; {{ at|when:program.time_zone }} in the program's zone."""
    try:
        return display.format_timestamp(value, zone)
    except (TypeError, ValueError, AttributeError):
        return value


@register.filter
def money(amount_minor, currency):
    """{{ line.net_minor|money:run.currency }} → <span class="money">1,234.56 USD</span>, one line."""
    try:
        return display.money_html(amount_minor, currency)
    except (TypeError, ValueError, ArithmeticError):
        return amount_minor
