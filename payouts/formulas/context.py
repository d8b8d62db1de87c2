from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from core.sql import date_param, datetime_param
from partnerships.models import Program
from payouts.formulas.tables import ENROLMENT_TABLE, LIVE_MEMBERSHIP, SUSPENSION_TABLE
from payouts.models import Fund, PayoutRun, ProgramTerms


@dataclass(frozen=True)
class RunContext:
    run: PayoutRun
    program: Program
    terms: ProgramTerms
    fund: Fund
    start: dt.date
    end: dt.date  # last day of input (month end, or today for an estimate)
    budget_minor: int
    temporary: list[str] = field(default_factory=list)  # temporary tables the formula made, dropped after
    # Partners left out of the month (a what-if run, payouts.services.what_if): they earn nothing and, in a pooled
    # fund, their share goes to the others. Validated integers, written into the SQL as literals.
    excluded_partner_ids: tuple[int, ...] = ()

    @property
    def cutoff(self) -> dt.datetime:
        """Members approved before the month ended (in the program's time zone) take part."""
        tz = zoneinfo.ZoneInfo(self.program.time_zone)
        after = self.run.month_end + dt.timedelta(days=1)
        return dt.datetime(after.year, after.month, after.day, tzinfo=tz)

    def members_join(self, alias: str) -> str:
        """MEMBERS_JOIN on ``alias``'s partner, less the excluded partners."""
        join = MEMBERS_JOIN.format(alias=alias)
        if self.excluded_partner_ids:
            join += f" AND e.partner_id NOT IN ({', '.join(str(int(pk)) for pk in self.excluded_partner_ids)})\n"
        return join

    def params(self, **extra) -> dict:
        return {
            "run": self.run.pk, "program": self.program.pk, "currency": self.program.currency,
            "start": date_param(self.start), "end": date_param(self.end), "cutoff": datetime_param(self.cutoff),
            **extra,
        }


# Members earn: a live membership (approved, or suspended now: at most one per partner and program) approved
# before the month ended. An ended or withdrawn membership earns nothing in a run computed after it ended.
MEMBERS_JOIN = f"""
    JOIN {ENROLMENT_TABLE} e ON e.partner_id = {{alias}}.partner_id AND e.program_id = %(program)s
         AND e.status IN ({LIVE_MEMBERSHIP}) AND e.approved_at < %(cutoff)s
"""
# ... and only the days on which the membership was not suspended count (suspension mid-month: the days before
# the suspension and after the reinstatement earn, the suspended days do not).
LIVE_DAY = f"""
    NOT EXISTS (SELECT 1 FROM {SUSPENSION_TABLE} s WHERE s.enrolment_id = e.id
                AND s.starts_on <= {{day}} AND (s.ends_on IS NULL OR s.ends_on > {{day}}))
"""

LINE_COLUMNS = (
    "run_id, partner_id, basis, basis_value, basis_total, weight, gross_minor, capped, rounding_minor, remainder, "
    "adjustments_minor, carried_in_minor, withholding_minor, withholding_ppm, withholding_source, income_type, "
    "tax_country, net_minor, status, hold_reason, note"
)
# Every archetype defines a CTE named ``earned`` with these columns; settle.py turns it into the lines.
EARNED_COLUMNS = "partner_id, basis, basis_value, basis_total, weight, gross, capped, rounding, remainder, note"
# What screening reads of a partner's month (payouts.screening), besides the qualified views: aggregated in the
# pooled formula's one scan of the month's metrics (payouts.formulas.pooled), or by screening for other archetypes.
MONTH_FIGURES = ("SUM(m.views) AS views, SUM(m.likes + m.comments + m.shares) AS engaged, "
                 "MAX(m.qualified_views) AS peak, COUNT(*) AS days")
