"""Daily metrics from the data pipeline: handle, date, views, qualified_views, likes, comments, shares,
followers, posts. One row per partner and day; loading a day again replaces that day's figures."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence

from django.db import connection, transaction

from core.sql import fetchone
from core.tasks import enqueue
from ingestion import fields, guards
from ingestion.engine.run import ingest_run
from ingestion.engine.spec import Column, IngestSpec, Outcome, Problem, RowRejected, SetCheck
from ingestion.exceptions import QUALIFIED_ABOVE_VIEWS, UNKNOWN_PARTNER
from ingestion.models import ImportJob
from ingestion.registry import IngestionKind
from partnerships.models import DailyMetric, Partner
from partnerships.services import rollups, statistics

COUNTS = ("views", "qualified_views", "likes", "comments", "shares", "followers", "posts")
COLUMNS = (Column("handle", "text"), Column("date", "date", sql_name="day")) + tuple(
    Column(name, "bigint") for name in COUNTS
)
PERMISSION = "partnerships.import_dailymetric"
LOCK_NAME = f"ingest:{DailyMetric._meta.db_table}"
REFRESH_STATISTICS_TASK = "partnerships.refresh_partner_statistics"  # partnerships.tasks, queued by name


def metric_values(values: Sequence, latest: dt.date) -> tuple[tuple | None, list[Problem]]:
    """One row (text from CSV, or XLSX cells) as typed values (handle, day, counts), or every problem of it,
    column by column. Bulk ingestion's slow path and the admin's import both use it."""
    problems, clean = [], []
    parsers: list[Callable] = [fields.parse_handle, lambda value: fields.parse_day(value, latest=latest)]
    parsers += [fields.parse_count] * len(COUNTS)
    for column, parse, value in zip(COLUMNS, parsers, values, strict=True):
        try:
            clean.append(parse(value))
        except ValueError as exc:
            problems.append(Problem(column.name, value, str(exc)))
    if not problems and clean[3] > clean[2]:
        problems.append(Problem("qualified_views", values[3], QUALIFIED_ABOVE_VIEWS.format(
            qualified=clean[3], views=clean[2])))
    if problems:
        return None, problems
    return tuple(clean), []


def metric_values_quick(values: Sequence, latest: dt.date) -> tuple | None:
    """metric_values for the everyday row of text, in a few string operations; None sends the row to
    metric_values (other types, spaces, anything to refuse)."""
    handle, day, *counts = values
    if not (isinstance(handle, str) and isinstance(day, str) and all(isinstance(c, str) for c in counts)):
        return None
    digits = "".join(counts)
    if (fields.HANDLE_PATTERN.fullmatch(handle) is None or len(day) != 10 or day[4] != "-" or day[7] != "-"
            or not all(counts) or not digits.isascii() or not digits.isdigit() or max(map(len, counts)) > 18):
        return None
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        return None
    numbers = list(map(int, counts))
    if date > latest or numbers[1] > numbers[0]:
        return None
    return (handle, date, *numbers)


def metric_problems(values: Sequence, latest: dt.date) -> tuple[tuple[str, ...] | None, list[Problem]]:
    """metric_values as clean text for the staging table (spaces around values, leading zeros removed)."""
    clean, problems = metric_values(values, latest)
    if clean is None:  # metric_values gives the clean values or the problems, never both
        return None, problems
    return (clean[0], clean[1].isoformat(), *map(str, clean[2:])), []


def metric_parser() -> Callable[[Sequence[str]], tuple[str, ...]]:
    """A row of the file as clean text in column order, ready for the staging table; RowRejected otherwise."""
    latest = fields.latest_day()
    latest_iso = latest.isoformat()
    handle_ok = fields.HANDLE_PATTERN.fullmatch
    from_iso = dt.date.fromisoformat

    def parse(values: Sequence[str]) -> tuple[str, ...]:
        # The fast path takes a clean row with string operations only (no int() per value: the database parses
        # the digits). Anything unusual goes to the slow path, which names every problem.
        handle, day, *counts = values
        digits = "".join(counts)
        if (handle_ok(handle) is not None and len(day) == 10 and day[4] == "-" and day[7] == "-"
                and day <= latest_iso and all(counts) and digits.isascii() and digits.isdigit()
                and max(map(len, counts)) < 16):  # below 10**15: fields.MAX_COUNT
            views, qualified = counts[0].lstrip("0"), counts[1].lstrip("0")
            if (len(qualified), qualified) <= (len(views), views):
                try:
                    from_iso(day)
                except ValueError:
                    pass
                else:
                    return tuple(values)
        clean, problems = metric_problems(values, latest)
        if clean is None:  # there were problems
            raise RowRejected(problems)
        return clean

    return parse


def _day_ok(day: str, latest_iso: str) -> bool:
    """A YYYY-MM-DD text (the shape already checked) that is a real date, not after the latest day accepted."""
    if day > latest_iso:
        return False
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    return True


def metric_fast_path() -> Callable[[str], bool]:
    """True for a clean line of a file in the pipeline's column order, checked by one regular expression and
    three comparisons; every other line takes the parser (which names the problems)."""
    latest_iso = fields.latest_day().isoformat()
    count = "([0-9]{1,15})"  # ASCII digits only (a bare \d takes any script's digits); below 10**15 (MAX_COUNT)
    match = re.compile(
        r"[a-z0-9._]{2,40},([0-9]{4}-[0-9]{2}-[0-9]{2})," + ",".join([count] * len(COUNTS))
    ).fullmatch

    def clean(line: str) -> bool:
        found = match(line)
        if found is None:
            return False
        day, views, qualified = found.group(1, 2, 3)
        views, qualified = views.lstrip("0"), qualified.lstrip("0")
        return (len(qualified), qualified) <= (len(views), views) and _day_ok(day, latest_iso)

    return clean


def metric_block_check() -> Callable[[str], bool]:
    """True for a block of clean lines of the pipeline's file: one regular expression over the whole block
    (possessive, so it never backtracks), and each distinct date of the block checked once. Qualified views
    above views are left to the set-based check (SPEC.set_checks)."""
    latest_iso = fields.latest_day().isoformat()
    block = re.compile(
        r"(?:[a-z0-9._]{2,40}+,[0-9]{4}-[0-9]{2}-[0-9]{2}" + ",[0-9]{1,15}+" * len(COUNTS) + r"\n)*+"
    ).fullmatch
    dates = re.compile(r",([0-9]{4}-[0-9]{2}-[0-9]{2}),").findall

    def clean(text: str) -> bool:
        if block(text) is None:
            return False
        return all(_day_ok(day, latest_iso) for day in set(dates(text)))

    return clean


def _merge_sql(stage: str, returning: bool, *, rollups_kept: bool = True) -> str:
    metric, partner = DailyMetric._meta.db_table, Partner._meta.db_table
    counts = ", ".join(COUNTS)
    if rollups_kept and connection.vendor == "postgresql":  # the rollups' change in the same statement
        # ... and the statistics' changes, for the refresh after the load
        first, last = fetchone(f"SELECT MIN(day), MAX(day) FROM {stage}")
        return rollups.rollup_merge_sql(_merge_sql(stage, False, rollups_kept=False), returning,
                                        carried=statistics.CHANGED, also=[statistics.changes_merge_cte()],
                                        days=None if first is None else (first, last))
    return f"""
        INSERT INTO {metric} AS t (partner_id, day, {counts})
        SELECT p.id, s.day, {", ".join(f"s.{name}" for name in COUNTS)}
        FROM {stage} s JOIN {partner} p ON p.handle = s.handle
        WHERE true
        ON CONFLICT (partner_id, day) DO UPDATE SET {", ".join(f"{name} = excluded.{name}" for name in COUNTS)}
        WHERE ({", ".join(f"t.{name}" for name in COUNTS)}) <> ({", ".join(f"excluded.{name}" for name in COUNTS)})
        {"RETURNING partner_id, day" if returning else ""}
    """


def _rollup_source(stage: str) -> str:
    """The staged rows as the daily rows they will be, for the rollups' change (partnerships.services.rollups)."""
    summed = ", ".join(f"s.{name}" for name in rollups.SUMMED)
    partner = Partner._meta.db_table
    return f"SELECT p.id AS partner_id, s.day, {summed} FROM {stage} s JOIN {partner} p ON p.handle = s.handle"


def _before_merge(stage: str) -> None:
    """Inside the merge's transaction, before the upsert: the rollups' part, and on SQLite the statistics' changes
    (PostgreSQL stores them in the merge's statement)."""
    rollups.rollup_merge_before(_rollup_source(stage))
    if connection.vendor != "postgresql":
        partner = Partner._meta.db_table
        source = (f"SELECT p.id AS partner_id, s.day, {', '.join(f's.{name}' for name in COUNTS)} "
                  f"FROM {stage} s JOIN {partner} p ON p.handle = s.handle")
        statistics.changes_capture(source, compared=COUNTS)


def refresh_statistics(outcome: Outcome) -> str:
    """After the load commits: the 30-day statistics of the partners the load changed, from the changes the
    merge stored (partnerships.services.statistics.partner_statistics_refresh_changed)."""
    transaction.on_commit(lambda: enqueue(REFRESH_STATISTICS_TASK, changed=True))
    if outcome.partner_ids is None:
        return "Statistics of the partners this load changed are being refreshed."
    count = len(outcome.partner_ids)
    one = count == 1
    return f"Statistics of {count:,} partner{'' if one else 's'} {'is' if one else 'are'} being refreshed."


SPEC = IngestSpec(
    kind=ImportJob.Kind.METRICS,
    columns=COLUMNS,
    key=("handle", "date"),
    parser=metric_parser,
    set_checks=(
        SetCheck(  # rows copied in blocks were not compared in Python
            column="qualified_views",
            where="s.qualified_views > s.views",
            detail="s.views",
            reason=lambda value, detail: QUALIFIED_ABOVE_VIEWS.format(qualified=value, views=detail),
        ),
        SetCheck(
            column="handle",
            where=f"NOT EXISTS (SELECT 1 FROM {Partner._meta.db_table} p WHERE p.handle = s.handle)",
            reason=lambda value, detail: UNKNOWN_PARTNER.format(value=value),
            left_out_by_merge=True,  # the merge joins partners by handle; the closed periods' check does too
        ),
        # A month a payout run has closed (payouts registers the guard): see ingestion.guards.
        guards.closed_rows_check(input=guards.DAILY_METRICS, partners=Partner._meta.db_table),
    ),
    merge_sql=_merge_sql,
    lock_name=LOCK_NAME,
    after_load=refresh_statistics,
    fast_path=metric_fast_path,
    block_check=metric_block_check,
    period_input=guards.DAILY_METRICS,
    # The monthly rollups change with the daily rows, in the merge's transaction; so do the statistics' changes.
    before_merge=_before_merge,
    after_merge=rollups.rollup_merge_after,
    merge_refuses_repeats=True,  # ON CONFLICT (partner_id, day); a handle is one partner
)
# Without the rollups' upkeep: for the benchmark's comparison only (the rollups are stale after it, and the
# statistics' changes are not stored).
SPEC_WITHOUT_ROLLUPS = dataclasses.replace(SPEC, before_merge=None, after_merge=None,
                                           merge_sql=functools.partial(_merge_sql, rollups_kept=False))


def daily_metrics_ingest(*, job_id: int, refresh: bool = True, rollups_kept: bool = True) -> ImportJob:
    """Load a metrics job's file (see ingestion.engine for the guarantees). ``refresh`` false leaves
    the statistics as they are (the benchmark times them apart); ``rollups_kept`` false leaves the monthly rollups
    stale (the benchmark measures their upkeep with it; nothing else may)."""
    return ingest_run(job_id=job_id, spec=SPEC if rollups_kept else SPEC_WITHOUT_ROLLUPS, after_load=refresh)


def _start(job_id: int) -> None:
    enqueue("partnerships.ingest_metrics", job_id)  # partnerships.tasks.ingest_metrics_task


KIND = IngestionKind(kind=ImportJob.Kind.METRICS, label="daily metrics", permission=PERMISSION,
                     columns=tuple(column.name for column in COLUMNS), start=_start,
                     run=lambda job_id: daily_metrics_ingest(job_id=job_id))
