"""Keeping the monthly rollups of daily metrics (partnerships.models.rollups) equal to the daily rows' sums.

Three ways, all set-based SQL on PostgreSQL and SQLite, all inside the writer's transaction and under the lock bulk
loads of daily metrics take (so a rollup row is never written by two transactions at once):

- the bulk merge adds each load's change, per partner and month: the new values minus the stored ones of the rows
  the load changes. On PostgreSQL in the merge's own statement (``rollup_merge_sql``); on SQLite
  ``rollup_delta_capture`` stores the change before the upsert and ``rollup_delta_apply`` adds it after. A lowered
  daily peak cannot be subtracted: those few partner-months are recomputed.
- every other writer (the ORM, the admin's spreadsheet import) recomputes the partner-months it touched
  (``metric_rollups_recompute``);
- ``metric_rollups_rebuild`` recomputes whole months (a migration, a repair), ``metric_rollups_mismatches``
  lists the partner-months where rollups and daily rows disagree (manage.py rebuild_metric_rollups --check).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction

from core.sql import date_param, drop_temporary, execute, fetchall, fetchone, materialise, pair_relations

SUMMED = ("views", "qualified_views", "likes", "comments", "shares")
ROLLUP_COLUMNS = ("partner_id", "month", *SUMMED, "peak_qualified_views", "days")
DELTA_TABLE = "cp_metric_rollup_delta"
LOWERED_TABLE = "cp_metric_rollup_lowered"  # partner-months whose peak a merge may have lowered (PostgreSQL)
KEYS_TABLE = "cp_metric_rollup_keys"
LOCK_NAME = "ingest:partnerships_dailymetric"  # partnerships.ingest_metrics.LOCK_NAME (checked by a test)


def _tables() -> tuple[str, str]:
    from partnerships.models import DailyMetric, MonthlyMetricRollup
    return DailyMetric._meta.db_table, MonthlyMetricRollup._meta.db_table


def month_of(expression: str) -> str:
    """SQL: the first day of the month of the date ``expression``."""
    if connection.vendor == "postgresql":  # date arithmetic: no detour through a timestamp and the session's zone
        return f"({expression} - CAST(EXTRACT(DAY FROM {expression}) AS integer) + 1)"
    return f"date({expression}, 'start of month')"


def next_month(expression: str) -> str:
    """SQL: the first day of the month after the month starting on ``expression``."""
    if connection.vendor == "postgresql":
        return f"CAST({expression} + interval '1 month' AS date)"
    return f"date({expression}, '+1 month')"


def partner_days_of(pairs: Iterable[tuple[int, dt.date | str]]) -> set[tuple[int, dt.date]]:
    """(partner, day) of each (partner, day or its ISO text)."""
    return {(int(partner_id), day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10]))
            for partner_id, day in pairs}


def partner_months_of(pairs: Iterable[tuple[int, dt.date | str]]) -> set[tuple[int, dt.date]]:
    """(partner, month) of each (partner, day)."""
    return {(partner_id, day.replace(day=1)) for partner_id, day in partner_days_of(pairs)}


def rollup_lock(name: str = LOCK_NAME) -> None:
    """Inside a transaction: wait for other writers of the daily rows the lock ``name`` guards (by default daily
    metrics; payouts.services.video_rollups passes the video views' own) (PostgreSQL; SQLite writes one at a
    time)."""
    if connection.vendor == "postgresql":
        execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])


def _aggregate(where: str, join: str = "") -> str:
    metric, _ = _tables()
    sums = ", ".join(f"SUM(m.{name}) AS {name}" for name in SUMMED)
    return (f"SELECT m.partner_id, {month_of('m.day')} AS month, {sums}, "
            "MAX(m.qualified_views) AS peak_qualified_views, COUNT(*) AS days "
            f"FROM {metric} m {join} WHERE {where} GROUP BY m.partner_id, {month_of('m.day')}")


def _recompute_keys(keys: str, params: Sequence[Any] = ()) -> None:
    """Replace the rollup rows of the (partner_id, month) pairs of relation ``keys`` (aliased k, a table or
    core.sql.pair_relations') by the sums of their daily rows."""
    _, rollup = _tables()
    execute(f"DELETE FROM {rollup} WHERE EXISTS (SELECT 1 FROM {keys} "
            f"WHERE k.partner_id = {rollup}.partner_id AND k.month = {rollup}.month)", params)
    join = (f"JOIN {keys} ON k.partner_id = m.partner_id AND m.day >= k.month "
            f"AND m.day < {next_month('k.month')}")
    execute(f"INSERT INTO {rollup} ({', '.join(ROLLUP_COLUMNS)}) {_aggregate('true', join)}", params)


@transaction.atomic
def metric_rollups_recompute(*, partner_months: Iterable[tuple[int, dt.date]]) -> int:
    """Recompute the rollups of these (partner, month) pairs from the daily rows, set-based: one row per pair that
    has daily rows, none for a pair that has none. Returns the number of pairs. The ORM runs it once per row it
    writes: the pairs are parameters (core.sql.pair_relations), never a temporary table."""
    pairs = sorted(set(partner_months))
    if not pairs:
        return 0
    rollup_lock()
    for keys, params in pair_relations(pairs, "k", ("partner_id", "month")):
        _recompute_keys(keys, params)
    return len(pairs)


def months_where(months: Sequence[dt.date] | None, column: str, params: dict) -> str:
    """SQL: ``column`` falls in one of ``months`` (true when None); adds the bounds to ``params``."""
    if months is None:
        return "true"
    ranges = []
    for index, month in enumerate(sorted({month.replace(day=1) for month in months})):
        after = (month + dt.timedelta(days=32)).replace(day=1)
        params[f"from{index}"], params[f"to{index}"] = date_param(month), date_param(after)
        ranges.append(f"({column} >= %(from{index})s AND {column} < %(to{index})s)")
    return "(" + " OR ".join(ranges) + ")" if ranges else "false"


@transaction.atomic
def metric_rollups_rebuild(*, months: Sequence[dt.date] | None = None) -> int:
    """Recompute the rollups of these months (every month when None) from the daily rows in two statements.
    Returns the number of rollup rows written."""
    _, rollup = _tables()
    rollup_lock()
    params: dict = {}
    execute(f"DELETE FROM {rollup} WHERE {months_where(months, 'month', params)}", params)
    params = {}
    return execute(f"INSERT INTO {rollup} ({', '.join(ROLLUP_COLUMNS)}) "
                   f"{_aggregate(months_where(months, 'm.day', params))}", params)


def metric_rollups_mismatches(*, months: Sequence[dt.date] | None = None) -> list[tuple[int, dt.date]]:
    """The (partner, month) pairs, in order, whose rollup row differs from their daily rows' sums (or is missing,
    or has no daily rows left). Empty when the invariant holds."""
    _, rollup = _tables()
    daily_params: dict = {}
    daily = _aggregate(months_where(months, "m.day", daily_params))
    rolled_params: dict = {}
    rolled = (f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM {rollup} "
              f"WHERE {months_where(months, 'month', rolled_params)}")
    # The same parameters, renamed apart for each side.
    rolled = rolled.replace("%(from", "%(rfrom").replace("%(to", "%(rto")
    params = {**daily_params, **{f"r{name}": value for name, value in rolled_params.items()}}
    rows = fetchall(f"""
        SELECT partner_id, month FROM (SELECT * FROM ({daily}) a EXCEPT SELECT * FROM ({rolled}) b) x
        UNION
        SELECT partner_id, month FROM (SELECT * FROM ({rolled}) c EXCEPT SELECT * FROM ({daily}) d) y
        ORDER BY 1, 2""", {**params})
    return [(int(partner_id), dt.date.fromisoformat(str(month)[:10])) for partner_id, month in rows]


# --- the bulk merge -----------------------------------------------------------------------------------------------

def rollup_merge_before(source_sql: str) -> None:
    """Before the merge's upsert: on PostgreSQL the table the merge statement (rollup_merge_sql) names the
    partner-months whose peak may have gone down in; on SQLite the change of the rollups (rollup_delta_capture)."""
    if connection.vendor == "postgresql":
        drop_temporary(LOWERED_TABLE)
        execute(f"CREATE TEMPORARY TABLE {LOWERED_TABLE} (partner_id bigint, month date)")
    else:
        rollup_delta_capture(source_sql)


def rollup_merge_after() -> int:
    """After the merge's upsert: recompute the partner-months whose peak may have gone down (PostgreSQL: the
    rollups changed with the upsert); on SQLite add the captured change first (rollup_delta_apply)."""
    if connection.vendor != "postgresql":
        return rollup_delta_apply()
    try:
        if fetchone(f"SELECT EXISTS (SELECT 1 FROM {LOWERED_TABLE})")[0]:  # the everyday load lowers no peak
            _recompute_keys(f"{LOWERED_TABLE} k")
    finally:
        drop_temporary(LOWERED_TABLE)
    return 0


def rollup_months_empty(first_day: dt.date, last_day: dt.date) -> bool:
    """True when no rollup row exists in the months from ``first_day``'s to ``last_day``'s: every partner-month a
    load of those days writes is then new (the month's first load). Read under the rollups' lock (rollup_lock), so
    it holds until the writer's transaction ends."""
    _, rollup = _tables()
    return not fetchone(f"SELECT EXISTS (SELECT 1 FROM {rollup} WHERE month >= %s AND month <= %s)",
                        [date_param(first_day.replace(day=1)), date_param(last_day.replace(day=1))])[0]


def _last_id_given(table: str) -> int:
    """PostgreSQL: the largest id the table's id sequence has handed out (0 when none)."""
    sequence = fetchone("SELECT pg_get_serial_sequence(%s, 'id')", [table])[0]
    last_value, is_called = fetchone(f"SELECT last_value, is_called FROM {sequence}")
    return int(last_value) if is_called else int(last_value) - 1


def rollup_merge_sql(upsert: str, returning: bool, *, carried: Sequence[str] = SUMMED, also: Sequence[str] = (),
                     days: tuple[dt.date, dt.date] | None = None) -> str:
    """PostgreSQL: the merge's ``upsert`` (INSERT INTO the daily metrics AS t ... ON CONFLICT ... DO UPDATE ...
    WHERE the values differ, without RETURNING) and the rollups' change in one statement. Every part of a statement
    reads the same snapshot, so the daily table seen beside ``up`` holds the rows as they were before the upsert.
    ``change`` is each written row's change: a new row's own values (no read at all: the everyday load of a new day),
    an updated row's values minus the stored ones (only those rows are read again, by key). The statement returns the
    changed rows' (partner_id, day) when ``returning``, else their count and first and last day. ``change`` carries
    the columns ``carried`` (at least SUMMED) with ``partner_id``, ``day``, ``qualified_views_now`` (the row's new
    qualified views), ``added`` (1 for a new row) and ``lowered`` (its qualified views went down); ``also`` are
    more parts of the statement that read it (the statistics' changes). ``days``: the first and last day of the
    staged rows (None: no rows, or not known). When they are the same day (the everyday file), each partner-month
    has at most one row and its change is that row's, with no aggregation (``delta`` is then read from ``change``
    where it is used, not stored a second time). When no rollup row exists in their months (rollup_months_empty,
    the month's first load), every rollup row is inserted plainly: ON CONFLICT's speculative insertion and check of
    each new row cost 0.8-1.6 s at 1,000,000 rows (4.5-5.7 s against 3.7-4.1 s, 2026-12-05). A rollup row that
    existed after all would fail the unique (partner, month), and the load with it: it is never added to twice or
    lost.

    Which rows the upsert inserted: those whose id is past the id sequence's value read just before the statement
    (under the lock every writer of daily metrics takes, so no other writer's ids interleave; an updated row keeps
    its id). A partitioned table cannot return the system column xmax, which told it before.

    The two kinds of rows are two branches of a UNION ALL rather than one LEFT JOIN of all the written rows to the
    updated ones: the planner cannot size a WITH query's rows, and joined every row of a day's load by sorting both
    sides (1 s of the 14.6 s merge at 1,000,000 rows, twice: bench/ingest_profile.py --explain)."""
    metric, rollup = _tables()
    last_id = _last_id_given(metric)
    one_day = days is not None and days[0] == days[1]
    months_empty = days is not None and rollup_months_empty(*days)
    carried = tuple(dict.fromkeys((*SUMMED, *carried)))
    peak = "peak_qualified_views"
    new_values = ", ".join(f"u.{name}" for name in carried)
    differences = ", ".join(f"u.{name} - o.{name}" for name in carried)
    change = f"""
        SELECT u.partner_id, u.day, {new_values}, u.qualified_views AS qualified_views_now, 1 AS added,
               false AS lowered
        FROM up u WHERE u.inserted
        UNION ALL
        SELECT u.partner_id, u.day, {differences}, u.qualified_views, 0, o.qualified_views > u.qualified_views
        FROM up u JOIN {metric} o ON o.partner_id = u.partner_id AND o.day = u.day WHERE NOT u.inserted"""
    summed = ", ".join(SUMMED)
    if one_day:
        delta = f"""
            SELECT partner_id, {month_of("day")} AS month, {summed}, qualified_views_now AS {peak},
                   added AS days, lowered
            FROM change"""
    else:
        delta = f"""
            SELECT partner_id, {month_of("day")} AS month, {", ".join(f"SUM({name}) AS {name}" for name in SUMMED)},
                   MAX(qualified_views_now) AS {peak}, SUM(added) AS days, bool_or(lowered) AS lowered
            FROM change GROUP BY partner_id, {month_of("day")}"""
    added = ", ".join(f"{name} = r.{name} + excluded.{name}" for name in (*SUMMED, "days"))
    upsert_rollup = f"""ON CONFLICT (partner_id, month) DO UPDATE SET {added},
                {peak} = CASE WHEN excluded.{peak} > r.{peak} THEN excluded.{peak} ELSE r.{peak} END"""
    return f"""
        WITH up AS ({upsert} RETURNING t.partner_id, t.day, {", ".join(f"t.{name}" for name in carried)},
                                       (t.id > {last_id}) AS inserted),
        change AS ({change}),
        delta AS {"NOT MATERIALIZED " if one_day else ""}({delta}),
        lowered AS (INSERT INTO {LOWERED_TABLE} (partner_id, month) SELECT partner_id, month FROM delta WHERE lowered),
        rolled AS (
            INSERT INTO {rollup} AS r ({", ".join(ROLLUP_COLUMNS)})
            SELECT {", ".join(ROLLUP_COLUMNS)} FROM delta ORDER BY partner_id, month
            {"" if months_empty else upsert_rollup})
        {"".join(f", {part}" for part in also)}
        SELECT {"partner_id, day FROM up" if returning else "count(*), MIN(day), MAX(day) FROM up"}"""


def rollup_delta_capture(source_sql: str) -> None:
    """Before an upsert of daily rows: store, per partner and month, what the rows of ``source_sql`` (partner_id,
    day and the SUMMED columns, one row per key) change in the sums, counting the rows that are new, the largest
    new qualified views, and whether a stored qualified views goes down. Rows equal in every SUMMED column change
    nothing and are left out."""
    metric, _ = _tables()
    changes = ", ".join(f"SUM(n.{name} - COALESCE(o.{name}, 0)) AS {name}" for name in SUMMED)
    differs = " OR ".join(f"o.{name} <> n.{name}" for name in SUMMED)
    materialise(DELTA_TABLE, f"""
        SELECT n.partner_id, {month_of('n.day')} AS month, {changes},
               MAX(n.qualified_views) AS peak_qualified_views,
               SUM(CASE WHEN o.partner_id IS NULL THEN 1 ELSE 0 END) AS days,
               MAX(CASE WHEN o.qualified_views > n.qualified_views THEN 1 ELSE 0 END) AS lowered
        FROM ({source_sql}) n LEFT JOIN {metric} o ON o.partner_id = n.partner_id AND o.day = n.day
        WHERE o.partner_id IS NULL OR {differs}
        GROUP BY n.partner_id, {month_of('n.day')}""")


def rollup_delta_apply() -> int:
    """After the upsert: add the captured change to the rollups, then recompute the partner-months whose peak may
    have gone down. Returns the number of partner-months changed."""
    _, rollup = _tables()
    peak = "peak_qualified_views"
    added = ", ".join(f"{name} = r.{name} + excluded.{name}" for name in (*SUMMED, "days"))
    try:
        changed = execute(f"""
            INSERT INTO {rollup} AS r ({', '.join(ROLLUP_COLUMNS)})
            SELECT {', '.join(ROLLUP_COLUMNS)} FROM {DELTA_TABLE} WHERE true
            ON CONFLICT (partner_id, month) DO UPDATE SET {added},
                {peak} = CASE WHEN excluded.{peak} > r.{peak} THEN excluded.{peak} ELSE r.{peak} END""")
        drop_temporary(KEYS_TABLE)
        materialise(KEYS_TABLE, f"SELECT partner_id, month FROM {DELTA_TABLE} WHERE lowered = 1")
        _recompute_keys(f"{KEYS_TABLE} k")
    finally:
        drop_temporary(DELTA_TABLE, KEYS_TABLE)
    return max(changed, 0)
