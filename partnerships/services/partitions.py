"""The daily metrics' monthly partitions on PostgreSQL (issue 18; SQLite keeps one plain table and these do nothing).

The table (migration 0021) is PARTITION BY RANGE (day): one partition per month, ``partnerships_dailymetric_yYYYYmMM``,
and a DEFAULT partition that takes a row of a month without its own, so no write ever fails for want of one. Every
reader and writer names the parent table only: the upsert's ON CONFLICT (partner_id, day) holds the partition key,
and a query on a day range reads only its months.

- ``metric_partitions_ensure`` (beat task ``partnerships.metric_partitions_ensure``, daily; ``manage.py
  metric_partitions --ensure``) creates the partitions of this month and the next METRIC_PARTITION_MONTHS_AHEAD
  months, so each exists before its month starts, and of any month whose rows sit in the default partition. A
  month's rows in the default partition move into its new partition in the same transaction (the default partition
  is locked against writes meanwhile). Idempotent; two at once take turns on an advisory lock.
- ``metric_partitions_retire`` (beat task ``partnerships.metric_partitions_retire``, daily; ``--retire``) detaches
  the months older than METRIC_RETENTION_MONTHS (0: never) and keeps each as a plain table in the schema
  ``metric_archive`` (same name; rows kept, never dropped; foreign keys dropped so partners can still be deleted),
  and deletes the month's rollup rows (partnerships.models.rollups: no daily rows, no rollup). It refuses a month
  that something still reads, and says why: the apps register what they need (``register_metric_retention_need``;
  payouts: a run not yet approved, or a month of a pooled fund not closed, with its screening window of up to a
  year before the month). Runs keep their lines, statements and ledger: retiring changes no amount. The detach is
  not CONCURRENTLY: PostgreSQL refuses that on a table with a default partition, and outside a transaction block
  (the count, the detach and the rollups' delete must commit together). The plain detach takes a short ACCESS
  EXCLUSIVE lock; it waits at most LOCK_TIMEOUT for readers and otherwise fails, and the next daily run tries again.
- ``metric_storage_overview`` is the admin's *Storage by month* page (daily metrics' list): each month's table, rows
  and what the next run does with it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import periods
from core.sql import execute, fetchall, fetchone
from partnerships.services.rollups import rollup_lock

ARCHIVE_SCHEMA = "metric_archive"
LOCK_NAME = "partitions:partnerships_dailymetric"
LOCK_TIMEOUT = "10s"  # a DDL step waits this long for readers to finish, then fails (the next beat tries again)
MAX_MONTHS = 1200
STATISTICS_DAYS = 30  # partnerships.services.statistics.STATISTICS_WINDOW_DAYS
BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")
BAD_MONTHS = "{name} must be a whole number of months from {low} to {high}, not {value!r}."
NOT_PARTITIONED = "The daily metrics are not partitioned here (SQLite keeps one table): nothing to {action}."
STILL_NEEDED = "{month:%Y-%m} is kept: {why} (daily metrics from {first:%Y-%m-%d} to {last:%Y-%m-%d})."

# today -> what still reads daily metrics: (first day, last day, why), e.g. payouts' open runs and unclosed months.
RetentionNeed = Callable[[dt.date], Iterable[tuple[dt.date, dt.date, str]]]
_NEEDS: dict[str, RetentionNeed] = {}


def register_metric_retention_need(name: str, need: RetentionNeed) -> None:
    """Called from an AppConfig.ready: ``need(today)`` names the ranges of days of daily metrics its app still reads.
    Registering the same name again replaces it."""
    _NEEDS[name] = need


def metric_days_needed(today: dt.date) -> list[tuple[dt.date, dt.date, str]]:
    """Every registered need and the partners' 30-day statistics, earliest first."""
    needs = [(today - dt.timedelta(days=STATISTICS_DAYS - 1), today, "the partners' 30-day statistics read it")]
    for need in _NEEDS.values():
        needs += list(need(today))
    return sorted(needs)


def _tables() -> tuple[str, str, str]:
    from partnerships.models import DailyMetric, MonthlyMetricRollup
    table = DailyMetric._meta.db_table
    return table, f"{table}_default", MonthlyMetricRollup._meta.db_table


def partitioned() -> bool:
    """Whether the daily metrics are a partitioned table (PostgreSQL after migration 0021)."""
    if connection.vendor != "postgresql":
        return False
    table, _, _ = _tables()
    kind = fetchone("SELECT COALESCE((SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)), '')", [table])
    return kind[0] == "p"


def partition_name(month: dt.date) -> str:
    return f"{_tables()[0]}_y{month:%Y}m{month:%m}"


def metric_partitions() -> dict[dt.date, str]:
    """The attached monthly partitions: first day of the month -> table name (the default partition left out)."""
    table, _, _ = _tables()
    rows = fetchall("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass", [table])
    found = {}
    for name, bound in rows:
        match = BOUND.search(bound or "")
        if match:
            found[dt.date.fromisoformat(match.group(1))] = name
    return found


def archived_months() -> dict[dt.date, str]:
    """Months retired into the archive schema: first day -> schema-qualified table name."""
    table, _, _ = _tables()
    rows = fetchall("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                    [ARCHIVE_SCHEMA, f"{table}_y%"])
    months = {}
    for (name,) in rows:
        found = re.fullmatch(rf"{table}_y(\d{{4}})m(\d{{2}})", name)
        if found:
            months[dt.date(int(found.group(1)), int(found.group(2)), 1)] = f"{ARCHIVE_SCHEMA}.{name}"
    return months


def default_partition_rows() -> int:
    """Rows in the default partition: months without their own (the beat task moves them)."""
    return int(fetchone(f"SELECT count(*) FROM {_tables()[1]}")[0])


def _months_in_default(before: dt.date | None = None) -> list[dt.date]:
    _, default, _ = _tables()
    where, params = ("WHERE day < %s", [before]) if before else ("", [])
    rows = fetchall(f"SELECT DISTINCT CAST(date_trunc('month', day) AS date) FROM {default} {where}", params)
    return sorted(periods.month_start(month) for (month,) in rows)


def _checked_months(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_MONTHS:
        raise ValueError(BAD_MONTHS.format(name=name, low=low, high=MAX_MONTHS, value=value))
    return value


def _take_turns() -> None:
    # Deferred foreign-key checks run now: a table with pending ones cannot be altered (moved rows, the caller's).
    execute("SET CONSTRAINTS ALL IMMEDIATE")
    execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [LOCK_NAME])
    execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _create(month: dt.date) -> int:
    """Inside the transaction: the month's partition, with the rows the default partition holds for it. Returns the
    number of rows moved."""
    table, default, _ = _tables()
    name, after = partition_name(month), periods.next_month(month)
    bounds = {"from": month, "to": after}
    execute(f"LOCK TABLE {default} IN SHARE ROW EXCLUSIVE MODE")  # readers go on; writers wait until the attach
    execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
    # The partition's bounds as a constraint first: ATTACH then trusts it instead of scanning the rows.
    execute(f"ALTER TABLE {name} ADD CONSTRAINT {name}_bounds CHECK (day >= %(from)s AND day < %(to)s)", bounds)
    moved = execute(f"INSERT INTO {name} SELECT * FROM {default} WHERE day >= %(from)s AND day < %(to)s", bounds)
    if moved > 0:
        execute(f"DELETE FROM {default} WHERE day >= %(from)s AND day < %(to)s", bounds)
    execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%(from)s) TO (%(to)s)", bounds)
    execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")
    return max(moved, 0)


@dataclass
class EnsureOutcome:
    created: list[dt.date] = field(default_factory=list)
    moved_rows: int = 0  # rows moved out of the default partition into the new ones


def metric_partitions_ensure(*, months_ahead: int | None = None, today: dt.date | None = None) -> EnsureOutcome:
    """Create the partitions of this month, the next ``months_ahead`` months (METRIC_PARTITION_MONTHS_AHEAD) and
    every month with rows in the default partition, those rows moved in. One transaction; ValueError when the table
    is not partitioned."""
    ahead = _checked_months(settings.METRIC_PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead,
                            "METRIC_PARTITION_MONTHS_AHEAD", 0)
    if not partitioned():
        raise ValueError(NOT_PARTITIONED.format(action="create"))
    this_month = periods.month_start(today or timezone.localdate())
    outcome = EnsureOutcome()
    with transaction.atomic():
        _take_turns()
        existing = metric_partitions()
        wanted = {periods.add_months(this_month, count) for count in range(ahead + 1)} | set(_months_in_default())
        for month in sorted(wanted - set(existing)):
            outcome.moved_rows += _create(month)
            outcome.created.append(month)
    return outcome


@dataclass
class RetireOutcome:
    retired: list[tuple[dt.date, str, int]] = field(default_factory=list)  # (month, archive table, rows)
    refused: list[tuple[dt.date, str]] = field(default_factory=list)  # (month, why)


def _retire(month: dt.date, name: str | None) -> tuple[str, int]:
    table, _, rollup = _tables()
    if name is None:  # the month's rows are in the default partition: give them their partition first
        _create(month)
        name = partition_name(month)
    rows = fetchone(f"SELECT count(*) FROM {name}")[0]
    execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
    execute(f"CREATE SCHEMA IF NOT EXISTS {ARCHIVE_SCHEMA}")
    for (constraint,) in fetchall("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
                                  [name]):
        execute(f'ALTER TABLE {name} DROP CONSTRAINT "{constraint}"')
    archive = f"{ARCHIVE_SCHEMA}.{name}"
    if fetchone("SELECT to_regclass(%s) IS NOT NULL", [archive])[0]:  # rows of the month retired before
        execute(f"INSERT INTO {archive} SELECT * FROM {name}")
        execute(f"DROP TABLE {name}")
    else:
        execute(f"ALTER TABLE {name} SET SCHEMA {ARCHIVE_SCHEMA}")
    execute(f"DELETE FROM {rollup} WHERE month = %s", [month])
    return archive, int(rows)


def metric_partitions_retire(*, keep_months: int | None = None, today: dt.date | None = None) -> RetireOutcome:
    """Detach the months before the last ``keep_months`` (METRIC_RETENTION_MONTHS; 0 keeps everything) into the
    archive schema, oldest first, each in its own transaction; a month that a registered need's days overlap is
    refused with the reason. ValueError when the table is not partitioned."""
    keep = _checked_months(settings.METRIC_RETENTION_MONTHS if keep_months is None else keep_months,
                           "METRIC_RETENTION_MONTHS", 0)
    outcome = RetireOutcome()
    if keep == 0:
        return outcome
    if not partitioned():
        raise ValueError(NOT_PARTITIONED.format(action="retire"))
    today = today or timezone.localdate()
    cutoff = periods.add_months(periods.month_start(today), -keep)
    needs = metric_days_needed(today)
    candidates: dict[dt.date, str | None] = {month: name for month, name in metric_partitions().items()
                                             if month < cutoff}
    candidates.update({month: None for month in _months_in_default(before=cutoff) if month not in candidates})
    for month in sorted(candidates):
        needed = [(first, last, why) for first, last, why in needs
                  if first <= periods.month_end(month) and last >= month]
        if needed:
            first, last, why = needed[0]
            outcome.refused.append((month, STILL_NEEDED.format(month=month, why=why, first=first, last=last)))
            continue
        with transaction.atomic():
            _take_turns()
            rollup_lock()  # no load of daily metrics or rollups between the count and the detach
            if month in metric_partitions() or month in _months_in_default(before=periods.next_month(month)):
                archive, rows = _retire(month, metric_partitions().get(month))
                outcome.retired.append((month, archive, rows))
    return outcome


# --- what the admin's storage page shows ---------------------------------------------------------------------------

@dataclass(frozen=True)
class MonthStorage:
    month: dt.date
    table: str  # the month's partition, its archive table, or the default partition
    rows: int | None  # the planner's estimate (None: not analysed yet); exact for the default partition
    state: str
    why: str = ""


def _estimated_rows(tables: Iterable[str]) -> dict[str, int | None]:
    names = list(tables)
    if not names:
        return {}
    found = dict(fetchall("SELECT t.name, c.reltuples FROM unnest(%s::text[]) AS t(name) "
                          "JOIN pg_class c ON c.oid = to_regclass(t.name)", [names]))
    return {name: (int(found[name]) if found.get(name, -1) >= 0 else None) for name in names}


def metric_storage_overview(today: dt.date | None = None) -> list[MonthStorage]:
    """Every month of daily metrics, newest first: where its rows are (its partition, the default partition, the
    archive), about how many, and what the beat tasks will do with it. Empty when the table is not partitioned."""
    if not partitioned():
        return []
    today = today or timezone.localdate()
    this_month = periods.month_start(today)
    keep = settings.METRIC_RETENTION_MONTHS
    cutoff = periods.add_months(this_month, -keep) if keep else None
    needs = metric_days_needed(today)
    attached, archived = metric_partitions(), archived_months()
    estimates = _estimated_rows([*attached.values(), *archived.values()])
    months: list[MonthStorage] = []
    for month, name in attached.items():
        needed = [why for first, last, why in needs if first <= periods.month_end(month) and last >= month]
        if month > this_month:
            state, why = "ahead", "created before its month starts"
        elif month == this_month:
            state, why = "current", ""
        elif cutoff is None or month >= cutoff:
            state, why = "kept", f"within METRIC_RETENTION_MONTHS ({keep or 'never archive'})"
        elif needed:
            state, why = "kept", needed[0]
        else:
            state, why = "to archive", "older than METRIC_RETENTION_MONTHS: the next daily run archives it"
        months.append(MonthStorage(month, name, estimates[name], state, why))
    default = _tables()[1]
    for month, rows in fetchall(f"SELECT CAST(date_trunc('month', day) AS date), count(*) FROM {default} GROUP BY 1"):
        months.append(MonthStorage(periods.month_start(month), default, int(rows), "in the default partition",
                                   "the next daily run gives it its own partition and moves its rows"))
    months += [MonthStorage(month, name, estimates[name], "archived", "detached: rows kept, no longer read")
               for month, name in archived.items()]
    return sorted(months, key=lambda entry: (entry.month, entry.state), reverse=True)
