"""manage.py rebuild_video_rollups [--month 2026-09 ...] [--check]: recompute the monthly rollups of video views
from the daily rows (every month, or the months named), or with --check only compare them and list the
video-months that disagree (exit status 1 when any does). The video views' twin of rebuild_metric_rollups."""

from __future__ import annotations

from partnerships.management.commands.rebuild_metric_rollups import RollupCommand
from payouts.services.video_rollups import video_rollups_mismatches, video_rollups_rebuild


class Command(RollupCommand):
    help = "Recompute (or with --check compare) the monthly rollups of video views from the daily rows."
    mismatches = staticmethod(video_rollups_mismatches)
    rebuild = staticmethod(video_rollups_rebuild)
    unit, what = "video", "monthly video rollup"
