"""manage.py rebuild_video_rollups [--month 2026-09 ...] [--check]: recompute the monthly rollups of video views
from the daily rows (every month, or the months named), or with --check only compare them and list the
video-months that disagree (exit status 1 when any does). The video views' twin of rebuild_metric_rollups."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from partnerships.management.commands.rebuild_metric_rollups import SHOWN, month
from payouts.services.video_rollups import video_rollups_mismatches, video_rollups_rebuild


class Command(BaseCommand):
    help = "Recompute (or with --check compare) the monthly rollups of video views from the daily rows."

    def add_arguments(self, parser):
        parser.add_argument("--month", action="append", default=None, help="YYYY-MM; repeat for several months.")
        parser.add_argument("--check", action="store_true", help="Compare only; exit 1 when any month disagrees.")

    def handle(self, *args, **options):
        months = [month(value) for value in options["month"]] if options["month"] else None
        if options["check"]:
            mismatches = video_rollups_mismatches(months=months)
            if mismatches:
                shown = ", ".join(f"video {video_id} in {first:%Y-%m}" for video_id, first in mismatches[:SHOWN])
                raise CommandError(f"{len(mismatches):,} video-month(s) differ from their daily rows: {shown}")
            self.stdout.write("Monthly video rollups equal the daily rows' sums.")
            return
        written = video_rollups_rebuild(months=months)
        self.stdout.write(f"Rebuilt {written:,} monthly video rollup row(s).")
