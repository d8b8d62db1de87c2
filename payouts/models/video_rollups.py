"""Monthly sums of each video's daily views, kept current by every writer of video daily views, so a month of the
rate-per-1,000-views program (payouts.formulas.rate_per_mille) reads one row per video and month instead of one per
video and day (issue 18).

The invariant: for every (video, month) with at least one daily row, exactly one rollup row whose qualified_views
is the sum of that video's rows of that month and whose days is their number; no rollup row for a (video, month)
without daily rows. Every ORM write of VideoDailyViews recomputes the video-months it touched (video_views_written:
VideoDailyViewsQuerySet, VideoDailyViews.save/delete), in its transaction; ``manage.py rebuild_video_rollups``
rebuilds and checks it (payouts.services.video_rollups)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

from django.db import models

from partnerships.models.rollups import RollupKeepingQuerySet, rollup_keeping_write

# (id, day) and (id, month) pairs whatever the id: the partners' helpers serve the videos too.
from partnerships.services.rollups import partner_months_of
from payouts.services.video_rollups import video_lock, video_rollups_recompute

_writing: ContextVar[bool] = ContextVar("video_views_writing", default=False)


def video_views_written(keys: Iterable[tuple[int, Any]]) -> AbstractContextManager[set[tuple[int, dt.date]]]:
    """An ORM write of video daily views under the video views' lock (rollup_keeping_write): after it, the rollups of
    the touched video-months are recomputed."""
    def prepare(touched: set[tuple[int, dt.date]]) -> Callable[[], object]:
        return lambda: video_rollups_recompute(video_months=partner_months_of(touched))

    return rollup_keeping_write(keys, writing=_writing, lock=video_lock, prepare=prepare)


class VideoDailyViewsQuerySet(RollupKeepingQuerySet):
    """The ORM's bulk writes of video daily views keep the monthly rollups, in the same transaction
    (video_views_written)."""

    key_fields = ("video_id", "day")

    @staticmethod
    def written(keys: Iterable[tuple[int, Any]]) -> Any:
        return video_views_written(keys)


class VideoMonthlyViews(models.Model):
    """One video's daily views of one month, summed (see the module's invariant). Written only by
    payouts.services.video_rollups. Rows are replaced (deleted and inserted), never updated in place, so the table
    keeps PostgreSQL's default fillfactor (the partners' rollups leave room for the merge's in-place updates)."""

    video = models.ForeignKey("payouts.Video", on_delete=models.CASCADE, related_name="monthly_views")
    month = models.DateField(help_text="First day of the month.")
    qualified_views = models.BigIntegerField(default=0)
    days = models.IntegerField(default=0, help_text="Daily rows in the month.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["video", "month"], name="video_rollup_one_row_per_video_month"),
        ]
        verbose_name_plural = "video monthly views"

    def __str__(self) -> str:
        return f"video {self.video_id} in {self.month:%Y-%m}"
