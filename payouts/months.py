"""A program's months, in its own time zone."""

from __future__ import annotations

import datetime as dt

from core import periods
from partnerships.models import Program


def program_today(program: Program) -> dt.date:
    return periods.today_in(program.time_zone)


def previous_month(program: Program) -> dt.date:
    return periods.previous_month_in(program.time_zone)
