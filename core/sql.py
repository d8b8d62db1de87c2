"""Exact integer arithmetic for set-based SQL, the same on PostgreSQL and SQLite.

A pooled split needs budget × views / total views, whose product can pass 2**63. PostgreSQL does it in
``numeric`` through SQL functions created by migration 0002; SQLite gets the same three functions from
Python (exact big integers), registered on every new connection. SQL text therefore never differs
between the two databases, and no float is ever involved.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

T = TypeVar("T")


def muldiv_floor(a: int, b: int, c: int) -> int:
    """⌊a·b / c⌋ for non-negative a, b and positive c."""
    return (a * b) // c


def muldiv_rem(a: int, b: int, c: int) -> int:
    return (a * b) % c


def div_half_even(n: int, d: int) -> int:
    """n / d rounded half to even, symmetric around zero (d > 0)."""
    quotient, remainder = divmod(abs(n), d)
    if 2 * remainder > d or (2 * remainder == d and quotient % 2 == 1):
        quotient += 1
    return quotient if n >= 0 else -quotient


BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def _stored(value: int) -> int:
    """SQLite holds 64-bit integers: past them its own arithmetic silently turns to floating point. Every product
    goes through these functions instead, which refuse (the statement fails) rather than round."""
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise OverflowError(f"{value} is past the largest integer the database stores")
    return value


def mul(a: int, b: int) -> int:
    return _stored(int(a) * int(b))


def add(a: int, b: int) -> int:
    return _stored(int(a) + int(b))


def muldiv_half_even(a: int, b: int, d: int) -> int:
    """a·b / d rounded half to even, the product kept exact."""
    return div_half_even(int(a) * int(b), d)


def _register(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_function("cp_muldiv_floor", 3, muldiv_floor, deterministic=True)
    raw.create_function("cp_muldiv_rem", 3, muldiv_rem, deterministic=True)
    raw.create_function("cp_div_half_even", 2, div_half_even, deterministic=True)
    raw.create_function("cp_muldiv_half_even", 3, muldiv_half_even, deterministic=True)
    raw.create_function("cp_mul", 2, mul, deterministic=True)
    raw.create_function("cp_add", 2, add, deterministic=True)


def install() -> None:
    connection_created.connect(_register, dispatch_uid="core.sql.register")


POSTGRES_FUNCTIONS = """
CREATE OR REPLACE FUNCTION cp_muldiv_floor(a numeric, b numeric, c numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT div(a * b, c) $$;
CREATE OR REPLACE FUNCTION cp_muldiv_rem(a numeric, b numeric, c numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT mod(a * b, c) $$;
CREATE OR REPLACE FUNCTION cp_div_half_even(n numeric, d numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN 2 * abs(mod(n, d)) > d OR (2 * abs(mod(n, d)) = d AND mod(div(n, d), 2) <> 0)
                THEN div(n, d) + sign(n) ELSE div(n, d) END $$;
"""

# Migration 0008: exact products on PostgreSQL (numeric never overflows; storing past bigint fails loudly).
POSTGRES_EXACT_FUNCTIONS = """
CREATE OR REPLACE FUNCTION cp_mul(a numeric, b numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT a * b $$;
CREATE OR REPLACE FUNCTION cp_add(a numeric, b numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT a + b $$;
CREATE OR REPLACE FUNCTION cp_muldiv_half_even(a numeric, b numeric, d numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT cp_div_half_even(a * b, d) $$;
"""


# Named (%(name)s) or positional (%s) parameters, as the database cursor takes them.
Params = Mapping[str, Any] | Sequence[Any]


def execute(sql: str, params: Params | None = None) -> int:
    """Run one statement on the default connection; return the affected row count."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        rowcount: int = cursor.rowcount
        return rowcount


def fetchone(sql: str, params: Params | None = None) -> tuple[Any, ...]:
    """The first row of a statement that always returns one (an aggregate, say)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        row: tuple[Any, ...] = cursor.fetchone()
        return row


def fetchall(sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def materialise(name: str, select_sql: str, params: Params | None = None) -> str:
    """Store a SELECT's rows in a temporary table of this session and return its name; the caller drops it
    (``drop_temporary``). On PostgreSQL, CREATE TABLE ... AS may run the SELECT with parallel workers, which an
    INSERT ... SELECT never does (PostgreSQL 15), and the table is analysed so the next statement is planned on
    its real size."""
    execute(f"DROP TABLE IF EXISTS {name}")
    execute(f"CREATE TEMPORARY TABLE {name} AS {select_sql}", params)
    if connection.vendor == "postgresql":
        execute(f"ANALYZE {name}")
    return name


def analyze(*tables: str) -> None:
    """PostgreSQL: refresh the planner's statistics of tables a statement has just filled, inside the transaction
    (ANALYZE counts the transaction's own new rows), so the next statements are planned on their real size rather
    than on what autovacuum last saw. Nothing on SQLite."""
    if connection.vendor == "postgresql":
        execute(f"ANALYZE {', '.join(tables)}")


def work_mem_for_transaction(megabytes: int) -> None:
    """PostgreSQL: each sort and hash of this transaction's statements may use up to ``megabytes`` of memory before
    spilling to disk (SET LOCAL: the server's setting is back at commit or rollback), for the statements that sort
    or hash a million rows at once. Nothing on SQLite."""
    if connection.vendor == "postgresql":
        execute(f"SET LOCAL work_mem = '{int(megabytes)}MB'")


def jit_off_for_transaction() -> None:
    """PostgreSQL: no JIT compilation for this transaction's statements (set_config local: back at commit or
    rollback); set_up_bulk_computation uses it too. A bulk load's merge is one pass over the staged rows, whose
    cost estimate with the rollups' upkeep passes jit_optimize_above_cost: JIT spent 0.58 s compiling it at
    1,000,000 rows (auto_explain, bench/ingest_profile.py --explain), for nothing to win back. Nothing on SQLite."""
    if connection.vendor == "postgresql":
        execute("SELECT set_config('jit', 'off', true)")


def set_up_bulk_computation(work_mem: str) -> None:
    """PostgreSQL, for this transaction only (set_config local: the server's settings are back at commit or
    rollback): ``work_mem`` for statements that sort or hash a million rows at once, and no JIT compilation. A payout
    month's statements are long CTE chains with many expressions: JIT spent about 2.8 s compiling the line insert at
    1,000,000 partners (auto_explain, bench/payouts.py), more than it could win back on a single pass over the
    rows. Nothing on SQLite."""
    if connection.vendor == "postgresql":
        execute("SELECT set_config('work_mem', %(mem)s, true)", {"mem": work_mem})
        jit_off_for_transaction()


def beside(background: Callable[[], T], foreground: Callable[[], object], stop: threading.Event | None = None) -> T:
    """Run ``background`` in a thread, with its own database connection (closed after: it sees committed rows only),
    while ``foreground`` runs here in this connection's transaction; wait for both and return the background's
    result. An error of either is raised here (the foreground's first), so the caller's transaction rolls back; the
    thread always ends first. ``stop``: set when the foreground fails, for a background that can end early."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = background()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="beside", daemon=True)
    thread.start()
    try:
        foreground()
    except BaseException:
        if stop is not None:
            stop.set()  # the background's work is of no use now: it may end early (when it watches ``stop``)
        raise
    finally:
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["result"]
    return result


def drop_temporary(*names: str) -> None:
    for name in names:
        execute(f"DROP TABLE IF EXISTS {name}")


def date_param(value: dt.date | None) -> Any:
    """The date as the default connection's driver takes it as a raw SQL parameter."""
    return connection.ops.adapt_datefield_value(value)


def datetime_param(value: dt.datetime | None) -> Any:
    """The datetime as the default connection's driver takes it as a raw SQL parameter."""
    return connection.ops.adapt_datetimefield_value(value)


PAIRS_CHUNK = 2_000  # (id, date) pairs per VALUES list on SQLite


def pair_relations(pairs: Sequence[tuple[int, dt.date]], alias: str, columns: tuple[str, str]
                   ) -> list[tuple[str, list[Any]]]:
    """(id, date) pairs as relations to join, named ``alias`` with the two ``columns``, each with its parameters:
    on PostgreSQL one relation of two arrays, on SQLite one VALUES list per PAIRS_CHUNK pairs. No temporary table:
    PostgreSQL keeps the locks of a table created (and dropped) in a transaction until the transaction ends, about
    six per table, so a writer that runs once per row of a file must not create one (bench/ingest.py's default
    import resource filled the server's lock table from row 4,091 on)."""
    first, second = columns
    if connection.vendor == "postgresql":
        return [(f"unnest(%s::bigint[], %s::date[]) AS {alias}({first}, {second})",
                 [[key for key, _ in pairs], [day for _, day in pairs]])]
    relations = []
    for start in range(0, len(pairs), PAIRS_CHUNK):
        chunk = pairs[start:start + PAIRS_CHUNK]
        values = ", ".join(["(%s, %s)"] * len(chunk))
        relations.append((f"(SELECT column1 AS {first}, column2 AS {second} FROM (VALUES {values})) AS {alias}",
                          [value for key, day in chunk for value in (key, date_param(day))]))
    return relations
