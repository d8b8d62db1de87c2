"""The 30-day roll-up of each partner's daily metrics (PartnerStatistics), refreshed in SQL.

Two ways, one result (tests/partnerships/test_statistics_changes.py compares them after random loads):

- the full refresh (``partner_statistics_refresh``: nightly, when asked, or for a few listed partners) recomputes
  the window's sums from the daily rows;
- the refresh after a load (``partner_statistics_refresh_changed``) adds what the loads since the last refresh
  changed. The bulk merge writes each changed row's change (new values minus stored ones, StatisticsChange) in its
  own transaction; the refresh takes those rows, adds the changes that fall in the window to the stored sums and
  reads the latest follower count of the changed partners only. It is exact when every statistics row is as of the
  same day it refreshes to; otherwise (the day has turned and the nightly refresh has not run yet, or the table
  is empty) it does the full refresh.

Both take turns with each other (an advisory lock). The full refresh also takes the lock of the writers of daily
metrics and deletes the waiting changes: what it recomputes already holds them, and no load commits between its
statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.utils import timezone

from core.sql import drop_temporary, execute, fetchall, set_up_bulk_computation
from partnerships.marketplace.search_cache import search_cache_invalidate
from partnerships.models import DailyMetric, Partner, PartnerStatistics, StatisticsChange
from partnerships.services.rollups import rollup_lock

STATISTICS_WINDOW_DAYS = 30
CHANGED = ("views", "qualified_views", "likes", "comments", "shares", "posts")  # StatisticsChange's columns
CLAIMED_TABLE = "cp_statistics_claimed"
REFRESH_LOCK = "partner_statistics_refresh"
ENGAGEMENT_MAX = "99999.99"  # PartnerStatistics.engagement_rate: 7 digits, 2 after the point
# A refresh hashes a row or two per changed partner (its changes, their join to the statistics, the search table's
# trigger): a million of them fit in memory at this size instead of spilling to disk.
REFRESH_WORK_MEM_MB = 64


def _params(as_of: dt.date) -> dict[str, str | int | None]:
    ops = connection.ops
    return {
        "as_of": ops.adapt_datefield_value(as_of),
        "start": ops.adapt_datefield_value(as_of - dt.timedelta(days=STATISTICS_WINDOW_DAYS - 1)),
        "now": ops.adapt_datetimefield_value(timezone.now()),
    }


@contextmanager
def _summed_in_order() -> Iterator[None]:
    """PostgreSQL: the statements run inside sum their groups in partner order (after a sort, or along an index)
    instead of in a hash. A hash holds every partner's six or seven numeric sums at once (about 130 MB at 200,000
    partners): past work_mem it spills to disk and reads its rows again, where summing in order holds one partner's
    sums at a time. The setting is this transaction's and is put back after (a rollback puts it back too)."""
    if connection.vendor != "postgresql":
        yield
        return
    hashagg = fetchall("SELECT current_setting('enable_hashagg')")[0][0]
    execute("SELECT set_config('enable_hashagg', 'off', true)")
    yield
    execute("SELECT set_config('enable_hashagg', %(hashagg)s, true)", {"hashagg": hashagg})


def _refresh_lock() -> None:
    """Inside a transaction: two refreshes would upsert the same rows in different orders; take turns instead. Also
    the transaction's settings for statements over every partner: memory for their hashes, and no JIT compilation
    (PostgreSQL compiles these statements for their large estimates, 0.1-0.2 s each, and they spend their time
    writing rows and index entries, which compiled expressions do not speed up)."""
    if connection.vendor == "postgresql":
        execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [REFRESH_LOCK])
        set_up_bulk_computation(f"{REFRESH_WORK_MEM_MB}MB")


def _latest_followers(alias: str, *, in_window: bool = False) -> str:
    """SQL: the follower count of the partner ``alias``.partner_id's latest daily row up to as_of. ``in_window``: the
    partner has rows in the window (from %(start)s), so its latest one is there and only there is looked at (on
    PostgreSQL the window's one or two monthly partitions instead of every month's); an idle partner looks back."""
    since = "AND f.day >= %(start)s " if in_window else ""
    return (f"(SELECT f.followers FROM {DailyMetric._meta.db_table} f WHERE f.partner_id = {alias}.partner_id "
            f"AND f.day <= %(as_of)s {since}ORDER BY f.day DESC LIMIT 1)")


def _latest_followers_changed(alias: str) -> str:
    """SQL: _latest_followers of a changed partner, read in the window first: most changed partners have rows there,
    and their latest row is then there (the same value as looking back through every month, which only the others
    do: COALESCE evaluates its second argument only when the first is NULL)."""
    return f"COALESCE({_latest_followers(alias, in_window=True)}, {_latest_followers(alias)})"


def _ratios(views: str, posts: str, likes: str, comments: str, shares: str) -> tuple[str, str]:
    """SQL: average views per post and engagement rate of these sums (the same expressions for both refreshes)."""
    per_post = f"div({views}, {posts})" if connection.vendor == "postgresql" else f"{views} / {posts}"
    rate = f"ROUND(100.0 * ({likes} + {comments} + {shares}) / {views}, 2)"
    # At most the column's largest value: more interactions than views (the pipeline does not forbid it) would
    # otherwise fail the whole refresh on PostgreSQL.
    return (f"CASE WHEN {posts} > 0 THEN {per_post} ELSE 0 END",
            f"CASE WHEN {views} = 0 THEN 0 WHEN {rate} > {ENGAGEMENT_MAX} THEN {ENGAGEMENT_MAX} ELSE {rate} END")


def partner_statistics_refresh(*, as_of: dt.date | None = None, partner_ids: Iterable[int] | None = None) -> int:
    """Recompute the 30-day roll-up from DailyMetric in two set-based statements.

    Invariant: afterwards every partner in scope that has metrics in the window has exactly the sums of
    its window's rows; a partner whose window is now empty keeps its last follower count and has zero
    activity. Returns the number of partners with activity in the window."""
    as_of = as_of or timezone.localdate()
    params = _params(as_of)
    scope_metrics, scope_stats, scope_changes = "", "", ""
    if partner_ids is not None:
        ids = sorted({int(pk) for pk in partner_ids})
        if not ids:
            return 0
        placeholders = ", ".join(f"%(p{i})s" for i in range(len(ids)))
        params.update({f"p{i}": pk for i, pk in enumerate(ids)})
        scope_metrics = f"AND m.partner_id IN ({placeholders})"
        scope_stats = f"AND {PartnerStatistics._meta.db_table}.partner_id IN ({placeholders})"
        scope_changes = f"WHERE partner_id IN ({placeholders})"

    metric, stats = DailyMetric._meta.db_table, PartnerStatistics._meta.db_table
    per_post, engagement = _ratios(*(f"SUM(m.{name})" for name in ("views", "posts", "likes", "comments", "shares")))
    upsert = f"""
        INSERT INTO {stats} (partner_id, as_of, followers, views_30d, qualified_views_30d, likes_30d,
                             comments_30d, shares_30d, posts_30d, avg_views_per_post, engagement_rate,
                             refreshed_at)
        SELECT m.partner_id, %(as_of)s, COALESCE({_latest_followers("m", in_window=True)}, 0),
               SUM(m.views), SUM(m.qualified_views), SUM(m.likes), SUM(m.comments), SUM(m.shares),
               SUM(m.posts), {per_post}, {engagement}, %(now)s
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
            followers = COALESCE({_latest_followers(stats)}, followers),
            views_30d = 0, qualified_views_30d = 0, likes_30d = 0, comments_30d = 0, shares_30d = 0,
            posts_30d = 0, avg_views_per_post = 0, engagement_rate = 0
        WHERE refreshed_at <> %(now)s {scope_stats}
    """
    with transaction.atomic():
        _refresh_lock()
        # No load merges while the sums are recomputed: the changes waiting for the refresh after a load are
        # then exactly those the recomputed sums hold, and are dropped.
        rollup_lock()
        execute(f"DELETE FROM {StatisticsChange._meta.db_table} {scope_changes}", params)
        # At 1,000,000 partners the window's 30,000,000 rows summed in a hash spilled past 6 minutes; in partner
        # order (the daily rows' (partner, day) index) 17 s (bench/ingest_statistics.py's database, 2026-12-05).
        with _summed_in_order():
            refreshed = execute(upsert, params)
        execute(clear_idle, params)
        search_cache_invalidate()  # cached search pages show the old statistics: none is served after the commit
    return refreshed


def _consistent_as_of(as_of: dt.date) -> bool:
    """True when there are statistics and every row is as of ``as_of`` (the changes can then be added to them)."""
    stats = PartnerStatistics._meta.db_table
    params = _params(as_of)
    rows = fetchall(f"SELECT (SELECT 1 FROM {stats} LIMIT 1), "
                    f"(SELECT 1 FROM {stats} WHERE as_of <> %(as_of)s LIMIT 1)", params)
    return rows[0][0] is not None and rows[0][1] is None


def _claim_changes(params: dict) -> None:
    """Move the waiting changes into CLAIMED_TABLE, summed per partner: the window's sums and rows added, for the
    partners with a changed day up to as_of (a later day changes nothing as of it)."""
    changes = StatisticsChange._meta.db_table
    in_window = "day >= %(start)s"
    sums = ", ".join(f"SUM(CASE WHEN {in_window} THEN {name} ELSE 0 END)" for name in (*CHANGED, "added"))
    # No primary key: the GROUP BY makes partner_id unique, and both statements that read the table join it whole
    # (hashed), so an index would only be written (0.2-0.3 s at 200,000 partners) and never read.
    execute(f"CREATE TEMPORARY TABLE {CLAIMED_TABLE} (partner_id bigint NOT NULL, "
            + ", ".join(f"{name} bigint" for name in (*CHANGED, "added")) + ")")
    columns = ", ".join(("partner_id", *CHANGED, "added"))
    if connection.vendor == "postgresql":  # one statement: exactly the changes deleted are summed
        # 0.6 s instead of 0.8-1.1 s for the claim at 200,000 partners summed in order (2026-12-04).
        with _summed_in_order():
            execute(f"""
                WITH taken AS (DELETE FROM {changes} RETURNING partner_id, day, {", ".join((*CHANGED, "added"))})
                INSERT INTO {CLAIMED_TABLE} ({columns})
                SELECT partner_id, {sums} FROM taken WHERE day <= %(as_of)s GROUP BY partner_id""", params)
        execute(f"ANALYZE {CLAIMED_TABLE}")
    else:  # SQLite writes one transaction at a time
        execute(f"INSERT INTO {CLAIMED_TABLE} ({columns}) SELECT partner_id, {sums} FROM {changes} "
                f"WHERE day <= %(as_of)s GROUP BY partner_id", params)
        execute(f"DELETE FROM {changes}")


def partner_statistics_refresh_changed(*, as_of: dt.date | None = None) -> int:
    """The refresh after a load: the statistics of the partners the loads since the last refresh changed, in
    set-based statements over their changes only. The same result as partner_statistics_refresh(as_of=as_of)
    (which it falls back to when the statistics are not all as of ``as_of``). Returns the number of partners
    whose statistics were written."""
    as_of = as_of or timezone.localdate()
    params = _params(as_of)
    stats, partner = PartnerStatistics._meta.db_table, Partner._meta.db_table
    with transaction.atomic():
        _refresh_lock()
        if not _consistent_as_of(as_of):
            return partner_statistics_refresh(as_of=as_of)
        drop_temporary(CLAIMED_TABLE)
        try:
            _claim_changes(params)
            # Only the rows whose figures change are written (the sums change with a delta in the window, the
            # follower count with a new latest row; the ratios follow the sums): a load that changed nothing the
            # statistics count, such as a late row before the window, writes no row version and no search row.
            new = {name: f"(s.{name}_30d + c.{name})" for name in CHANGED}
            per_post, engagement = _ratios(*(new[name] for name in ("views", "posts", "likes", "comments", "shares")))
            written = execute(f"""
                UPDATE {stats} AS s SET {", ".join(f"{name}_30d = {new[name]}" for name in CHANGED)},
                    avg_views_per_post = {per_post}, engagement_rate = {engagement},
                    followers = COALESCE({_latest_followers_changed("c")}, s.followers), refreshed_at = %(now)s
                FROM {CLAIMED_TABLE} c WHERE c.partner_id = s.partner_id
                  AND ({" OR ".join(f"c.{name} <> 0" for name in CHANGED)}
                       OR {_latest_followers_changed("c")} <> s.followers)""", params)
            # A partner without statistics had no row in the window: it gets them when a load added one there.
            per_post, engagement = _ratios(*(f"c.{name}" for name in ("views", "posts", "likes", "comments", "shares")))
            written += execute(f"""
                INSERT INTO {stats} (partner_id, as_of, followers, {", ".join(f"{name}_30d" for name in CHANGED)},
                                     avg_views_per_post, engagement_rate, refreshed_at)
                SELECT c.partner_id, %(as_of)s, COALESCE({_latest_followers_changed("c")}, 0),
                       {", ".join(f"c.{name}" for name in CHANGED)}, {per_post}, {engagement}, %(now)s
                FROM {CLAIMED_TABLE} c
                WHERE c.added > 0 AND NOT EXISTS (SELECT 1 FROM {stats} s WHERE s.partner_id = c.partner_id)
                  AND EXISTS (SELECT 1 FROM {partner} p WHERE p.id = c.partner_id)""", params)
        finally:
            drop_temporary(CLAIMED_TABLE)
        if written:
            search_cache_invalidate()
    return written


# --- what the bulk merge writes ---------------------------------------------------------------------------------

def changes_merge_cte(name: str = "statistics_changes") -> str:
    """PostgreSQL: a part of the merge's statement (partnerships.services.rollups.rollup_merge_sql, whose ``change``
    holds each written row's change of the CHANGED columns and ``added``) that stores it for the refresh after the
    load."""
    changes = StatisticsChange._meta.db_table
    columns = ", ".join(CHANGED)
    return f"""{name} AS (
            INSERT INTO {changes} (partner_id, day, {columns}, added)
            SELECT partner_id, day, {columns}, added FROM change)"""


def changes_capture(source_sql: str, compared: Iterable[str]) -> int:
    """SQLite, before the merge's upsert: store the change each row of ``source_sql`` (partner_id, day and the
    daily columns, one row per key) makes, for the rows that differ from the stored ones in a ``compared`` column
    or are new. PostgreSQL does it in the merge's statement (changes_merge_cte)."""
    metric, changes = DailyMetric._meta.db_table, StatisticsChange._meta.db_table
    deltas = ", ".join(f"n.{name} - COALESCE(o.{name}, 0)" for name in CHANGED)
    differs = " OR ".join(f"o.{name} <> n.{name}" for name in compared)
    return execute(f"""
        INSERT INTO {changes} (partner_id, day, {", ".join(CHANGED)}, added)
        SELECT n.partner_id, n.day, {deltas}, CASE WHEN o.partner_id IS NULL THEN 1 ELSE 0 END
        FROM ({source_sql}) n LEFT JOIN {metric} o ON o.partner_id = n.partner_id AND o.day = n.day
        WHERE o.partner_id IS NULL OR {differs}""")


# --- what the ORM's writes store (partnerships.models.rollups.daily_metrics_written) ------------------------------

def daily_values(keys: set[tuple[int, dt.date]]) -> dict[tuple[int, dt.date], tuple[int, ...]]:
    """The CHANGED columns of the stored daily rows at these (partner, day) keys (an ORM write's few rows)."""
    if not keys:
        return {}
    rows = DailyMetric.objects.filter(partner_id__in={partner for partner, _ in keys},
                                      day__in={day for _, day in keys}).values_list("partner_id", "day", *CHANGED)
    return {(partner, day): tuple(values) for partner, day, *values in rows if (partner, day) in keys}


def statistics_changes_record(before: dict[tuple[int, dt.date], tuple[int, ...]],
                              after: dict[tuple[int, dt.date], tuple[int, ...]]) -> int:
    """Store what an ORM write did to each touched (partner, day), as the bulk merge stores a load's: the values
    after it minus those before (a new row counts from zero, a deleted one down to zero) and ``added`` 1 for a new
    row, -1 for a deleted one. An unchanged day is stored too: the refresh then reads the partner's latest follower
    count again, which the write may have changed. Returns the number of rows stored."""
    zero = (0,) * len(CHANGED)
    changes = [
        StatisticsChange(partner_id=partner, day=day, added=(key in after) - (key in before),
                         **{name: new - old for name, new, old in zip(CHANGED, after.get(key, zero),
                                                                     before.get(key, zero), strict=True)})
        for key in sorted(before.keys() | after.keys()) for partner, day in [key]]
    StatisticsChange.objects.bulk_create(changes)
    return len(changes)
