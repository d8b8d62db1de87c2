"""manage.py rebuild_metric_rollups [--month 2026-09 ...] [--check]: recompute the monthly rollups of daily metrics
from the daily rows (every month, or the months named), or with --check only compare them and list the
partner-months that disagree (exit status 1 when any does)."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from partnerships.services.rollups import metric_rollups_mismatches, metric_rollups_rebuild

SHOWN = 20  # mismatches listed by --check; the count says how many there are
BAD_MONTH = "Not a month (YYYY-MM): {value!r}"


def month(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(f"{value}-01")
    except ValueError as exc:
        raise CommandError(BAD_MONTH.format(value=value)) from exc


class RollupCommand(BaseCommand):
    """Rebuild (or with --check compare) monthly rollups: the partners' here, the videos' in
    payouts.management.commands.rebuild_video_rollups."""

    help = "Recompute (or with --check compare) the monthly rollups of daily metrics from the daily rows."
    mismatches = staticmethod(metric_rollups_mismatches)
    rebuild = staticmethod(metric_rollups_rebuild)
    unit, what = "partner", "monthly rollup"  # a mismatch names its unit's id; the summary names the rows

    def add_arguments(self, parser):
        parser.add_argument("--month", action="append", default=None, help="YYYY-MM; repeat for several months.")
        parser.add_argument("--check", action="store_true", help="Compare only; exit 1 when any month disagrees.")

    def handle(self, *args, **options):
        months = [month(value) for value in options["month"]] if options["month"] else None
        if options["check"]:
            mismatches = self.mismatches(months=months)
            if mismatches:
                shown = ", ".join(f"{self.unit} {pk} in {first:%Y-%m}" for pk, first in mismatches[:SHOWN])
                raise CommandError(f"{len(mismatches):,} {self.unit}-month(s) differ from their daily rows: {shown}")
            self.stdout.write(f"{self.what.capitalize()}s equal the daily rows' sums.")
            return
        written = self.rebuild(months=months)
        self.stdout.write(f"Rebuilt {written:,} {self.what} row(s).")


Command = RollupCommand
