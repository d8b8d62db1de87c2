"""Keeping the monthly rollups of video views (payouts.models.video_rollups) equal to the daily rows' sums: the
pattern of the partners' rollups (partnerships.services.rollups), whose helpers it reuses.

Every writer of video daily views takes the video views' lock (``rollup_lock(LOCK_NAME)``, the lock a bulk load of
the table would take: ``ingest:<table>``), then recomputes the (video, month) pairs it touched in its own
transaction, set-based (``video_rollups_recompute``). There is no bulk merge of video views today (they arrive
through the ORM: admin, fixtures, the demo); a merge would add its change as the partners' merge does.
``video_rollups_rebuild`` recomputes whole months (a migration, the demo's straight inserts, a repair) and
``video_rollups_mismatches`` lists the (video, month) pairs where rollups and daily rows disagree
(``manage.py rebuild_video_rollups --check``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from core.sql import execute, fetchall, pair_relations
from partnerships.services.rollups import month_of, months_where, next_month, rollup_lock

SUMMED = ("qualified_views",)
ROLLUP_COLUMNS = ("video_id", "month", *SUMMED, "days")
LOCK_NAME = "ingest:payouts_videodailyviews"  # f"ingest:{VideoDailyViews._meta.db_table}" (checked by a test)


def _tables() -> tuple[str, str]:
    from payouts.models import VideoDailyViews, VideoMonthlyViews
    return VideoDailyViews._meta.db_table, VideoMonthlyViews._meta.db_table


def video_lock() -> None:
    """Inside a transaction: wait for other writers of video daily views (PostgreSQL)."""
    rollup_lock(LOCK_NAME)


def _aggregate(where: str, join: str = "") -> str:
    daily, _ = _tables()
    sums = ", ".join(f"SUM(d.{name}) AS {name}" for name in SUMMED)
    return (f"SELECT d.video_id, {month_of('d.day')} AS month, {sums}, COUNT(*) AS days "
            f"FROM {daily} d {join} WHERE {where} GROUP BY d.video_id, {month_of('d.day')}")


@transaction.atomic
def video_rollups_recompute(*, video_months: Iterable[tuple[int, dt.date]]) -> int:
    """Recompute the rollups of these (video, month) pairs from the daily rows, set-based: one row per pair that has
    daily rows, none for a pair that has none. Returns the number of pairs."""
    pairs = sorted(set(video_months))
    if not pairs:
        return 0
    _, rollup = _tables()
    video_lock()
    for keys, params in pair_relations(pairs, "k", ("video_id", "month")):  # no temporary table: see there
        execute(f"DELETE FROM {rollup} WHERE EXISTS (SELECT 1 FROM {keys} "
                f"WHERE k.video_id = {rollup}.video_id AND k.month = {rollup}.month)", params)
        join = f"JOIN {keys} ON k.video_id = d.video_id AND d.day >= k.month AND d.day < {next_month('k.month')}"
        execute(f"INSERT INTO {rollup} ({', '.join(ROLLUP_COLUMNS)}) {_aggregate('true', join)}", params)
    return len(pairs)


@transaction.atomic
def video_rollups_rebuild(*, months: Sequence[dt.date] | None = None) -> int:
    """Recompute the rollups of these months (every month when None) from the daily rows in two statements.
    Returns the number of rollup rows written."""
    _, rollup = _tables()
    video_lock()
    params: dict[str, Any] = {}
    execute(f"DELETE FROM {rollup} WHERE {months_where(months, 'month', params)}", params)
    params = {}
    return execute(f"INSERT INTO {rollup} ({', '.join(ROLLUP_COLUMNS)}) "
                   f"{_aggregate(months_where(months, 'd.day', params))}", params)


def video_rollups_mismatches(*, months: Sequence[dt.date] | None = None) -> list[tuple[int, dt.date]]:
    """The (video, month) pairs, in order, whose rollup row differs from their daily rows' sums (or is missing, or
    has no daily rows left). Empty when the invariant holds."""
    _, rollup = _tables()
    daily_params: dict[str, Any] = {}
    daily = _aggregate(months_where(months, "d.day", daily_params))
    rolled_params: dict[str, Any] = {}
    rolled = (f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM {rollup} "
              f"WHERE {months_where(months, 'month', rolled_params)}")
    rolled = rolled.replace("%(from", "%(rfrom").replace("%(to", "%(rto")  # the same bounds, renamed apart
    params = {**daily_params, **{f"r{name}": value for name, value in rolled_params.items()}}
    rows = fetchall(f"""
        SELECT video_id, month FROM (SELECT * FROM ({daily}) a EXCEPT SELECT * FROM ({rolled}) b) x
        UNION
        SELECT video_id, month FROM (SELECT * FROM ({rolled}) c EXCEPT SELECT * FROM ({daily}) d) y
        ORDER BY 1, 2""", params)
    return [(int(video_id), dt.date.fromisoformat(str(month)[:10])) for video_id, month in rows]
