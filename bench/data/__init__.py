"""The set-based data generator of the benchmarks (INSERT ... SELECT over generate_series, never the ORM): the
chunked loops every loader runs its statements in, and one module per data set, each loaded in a Django process:

- demo: partners shaped like the demo's, categories, daily metrics, programs, enrolments (bench/admin.py);
- pooled: one pooled-fund program, its members and a month of metrics (bench/payouts.py);
- marketplace: partners with statistics and categories, a brand (bench/search.py).
"""

from __future__ import annotations

import time

from bench.harness import log

PARTNER_CHUNK, METRIC_CHUNK = 250_000, 50_000  # partners per INSERT statement


def insert_numbered(sql: str, count: int, params: dict, chunk: int = PARTNER_CHUNK) -> int:
    """`sql` over generate_series(%(low)s, %(high)s), for 1..count in chunks: partners numbered in order."""
    from django.db import connection

    inserted = 0
    with connection.cursor() as cursor:
        for low in range(1, count + 1, chunk):
            cursor.execute(sql, {**params, "low": low, "high": min(count, low + chunk - 1)})
            inserted += cursor.rowcount
            log(f"    partners {inserted:,} / {count:,}")
    return inserted


def insert_per_partner(sql: str, params: dict, chunk: int, label: str, rate: bool = False) -> int:
    """`sql` for the partners with id BETWEEN %(low)s AND %(high)s, `chunk` ids at a time (rows of one partner
    follow each other, so every index is appended in order)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM partnerships_partner")
        first, last = cursor.fetchone()
        inserted, started = 0, time.perf_counter()
        for low in range(first, last + 1, chunk):
            cursor.execute(sql, {**params, "low": low, "high": min(last, low + chunk - 1)})
            inserted += cursor.rowcount
            speed = f" rows ({inserted / (time.perf_counter() - started):,.0f} rows/s)" if rate else ""
            log(f"    {label} {inserted:,}{speed}")
    return inserted


def table_sizes(where: str) -> list[dict]:
    """Estimated rows and total size of the public tables matching `where` (on pg_class c), largest first."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND {where}
            ORDER BY 3 DESC
        """)
        return [{"table": name, "rows": rows, "bytes": size} for name, rows, size in cursor.fetchall()]
