"""The 30-day roll-up of each partner's daily metrics (PartnerStatistics), refreshed in SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from partnerships.models import DailyMetric, PartnerStatistics

STATISTICS_WINDOW_DAYS = 30


def partner_statistics_refresh(*, as_of: dt.date | None = None, partner_ids: Iterable[int] | None = None) -> int:
    """Recompute the 30-day roll-up from DailyMetric in two set-based statements.

    Invariant: afterwards every partner in scope that has metrics in the window has exactly the sums of
    its window's rows; a partner whose window is now empty keeps its last follower count and has zero
    activity. Returns the number of partners with activity in the window."""
    as_of = as_of or timezone.localdate()
    start = as_of - dt.timedelta(days=STATISTICS_WINDOW_DAYS - 1)
    now = timezone.now()
    ops = connection.ops
    params: dict[str, str | int | None] = {
        "as_of": ops.adapt_datefield_value(as_of),
        "start": ops.adapt_datefield_value(start),
        "now": ops.adapt_datetimefield_value(now),
    }
    scope_metrics, scope_stats = "", ""
    if partner_ids is not None:
        ids = sorted({int(pk) for pk in partner_ids})
        if not ids:
            return 0
        placeholders = ", ".join(f"%(p{i})s" for i in range(len(ids)))
        params.update({f"p{i}": pk for i, pk in enumerate(ids)})
        scope_metrics = f"AND m.partner_id IN ({placeholders})"
        scope_stats = f"AND s.partner_id IN ({placeholders})"

    postgres = connection.vendor == "postgresql"
    per_post = "div(SUM(m.views), SUM(m.posts))" if postgres else "SUM(m.views) / SUM(m.posts)"
    metric, stats = DailyMetric._meta.db_table, PartnerStatistics._meta.db_table
    # {since}: a partner with rows in the window has its latest one there, so the upsert looks only there (on
    # PostgreSQL the window's one or two monthly partitions instead of every month's); an idle partner looks back.
    latest_followers = (
        f"(SELECT f.followers FROM {metric} f WHERE f.partner_id = {{alias}}.partner_id "
        f"AND f.day <= %(as_of)s {{since}} ORDER BY f.day DESC LIMIT 1)"
    )
    in_window_followers = latest_followers.format(alias="m", since="AND f.day >= %(start)s")
    upsert = f"""
        INSERT INTO {stats} (partner_id, as_of, followers, views_30d, qualified_views_30d, likes_30d,
                             comments_30d, shares_30d, posts_30d, avg_views_per_post, engagement_rate,
                             refreshed_at)
        SELECT m.partner_id, %(as_of)s, COALESCE({in_window_followers}, 0),
               SUM(m.views), SUM(m.qualified_views), SUM(m.likes), SUM(m.comments), SUM(m.shares),
               SUM(m.posts),
               CASE WHEN SUM(m.posts) > 0 THEN {per_post} ELSE 0 END,
               CASE WHEN SUM(m.views) > 0
                    THEN ROUND(100.0 * (SUM(m.likes) + SUM(m.comments) + SUM(m.shares)) / SUM(m.views), 2)
                    ELSE 0 END,
               %(now)s
        FROM {metric} m
        WHERE m.day >= %(start)s AND m.day <= %(as_of)s {scope_metrics}
        GROUP BY m.partner_id
        ON CONFLICT (partner_id) DO UPDATE SET
            as_of = excluded.as_of, followers = excluded.followers, views_30d = excluded.views_30d,
            qualified_views_30d = excluded.qualified_views_30d, likes_30d = excluded.likes_30d,
            comments_30d = excluded.comments_30d, shares_30d = excluded.shares_30d,
            posts_30d = excluded.posts_30d, avg_views_per_post = excluded.avg_views_per_post,
            engagement_rate = excluded.engagement_rate, refreshed_at = excluded.refreshed_at
    """
    # Rows this refresh did not touch have no activity in the window any more.
    clear_idle = f"""
        UPDATE {stats} SET as_of = %(as_of)s, refreshed_at = %(now)s,
            followers = COALESCE({latest_followers.format(alias=stats, since="")}, followers),
            views_30d = 0, qualified_views_30d = 0, likes_30d = 0, comments_30d = 0, shares_30d = 0,
            posts_30d = 0, avg_views_per_post = 0, engagement_rate = 0
        WHERE refreshed_at <> %(now)s {scope_stats.replace("s.partner_id", f"{stats}.partner_id")}
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            # Two refreshes at once would upsert the same rows in different orders; take turns instead.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('partner_statistics_refresh'))")
        cursor.execute(upsert, params)
        refreshed = cursor.rowcount
        cursor.execute(clear_idle, params)
    return refreshed
