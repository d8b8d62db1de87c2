"""The machinery of bulk ingestion, whatever the file holds: read the CSV as a stream, check every row in
Python, COPY the valid rows into a staging table of the job's own, check them against the database in a few
set-based statements, and merge them into the real table in one transaction.

An ``IngestSpec`` says what a kind of file holds: its columns, how a row is parsed, which rows the database
refuses (an unknown partner, a currency no program pays in) and the merge statement. Daily metrics
(partnerships.ingest.metrics) and ad revenue (payouts.ingest) are two specs over this engine.

Invariants:
- Nothing reaches the real table before every row was read and checked, and the merge is one transaction: a
  load that stops (a file that is not CSV, a worker that dies) leaves the table as it was.
- A refused row never reaches the real table; it is listed in the error report (row, line, column, value,
  reason) and counted. The valid rows load.
- Loading the same file again changes nothing: the merge is an upsert on the table's natural key that only
  updates rows whose values differ.
- Two loads of the same kind take turns for the merge (a transaction-scoped advisory lock on PostgreSQL), so
  overlapping files end with each key once, holding one file's values, without deadlocks.
- Memory stays flat: rows are streamed in batches, refusals are streamed to a file, and nothing holds the
  whole file or all its keys in Python.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import datetime as dt
import heapq
import itertools
import logging
import operator
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from core.files import FILE_DUPLICATE_COLUMNS, FILE_MISSING_COLUMNS, FILE_NO_ROWS, FILE_UNEXPECTED
from core.spreadsheets import safe_cell
from partnerships.exceptions import DUPLICATE_ROW, ROW_WIDTH, IngestFailed
from partnerships.ingest import guards
from partnerships.ingest.fields import display
from partnerships.ingest.reader import open_source, reading
from partnerships.models import ImportJob

logger = logging.getLogger(__name__)

STAGE_BATCH_ROWS = 50_000  # rows per COPY (or executemany) between two progress updates
BLOCK_CHARACTERS = 1 << 20  # about 16,000 rows of daily metrics per block
BLOCKS_PER_PROGRESS = 8  # progress is written (ending the open COPY) every 8 blocks
REPORT_FETCH_ROWS = 5_000
STAGE_WORK_MEM = "256MB"  # per ingestion session: its hash joins and aggregates of a million rows in memory
PARTNER_LIST_LIMIT = 50_000  # above this many rows, the partners a load changed are not listed one by one
REPORT_DIRECTORY = "import-reports"
REPORT_HEADER = ["row", "line", "column", "value", "reason"]
CLAIM_NAMESPACE = 0x494A  # advisory lock namespace of "this job is being run"
SQL_TYPES = {"text": ("text", "TEXT"), "date": ("date", "TEXT"), "bigint": ("bigint", "INTEGER")}  # PostgreSQL, SQLite


@dataclass(frozen=True)
class Column:
    """A column of the file, and of the staging table (``sql_name``, when the file's name is an SQL keyword)."""

    name: str
    sql_type: str  # "text", "date" or "bigint"
    sql_name: str = ""

    @property
    def stage_name(self) -> str:
        return self.sql_name or self.name


@dataclass(frozen=True)
class Problem:
    column: str
    value: object
    reason: str


class RowRejected(Exception):  # noqa: N818 (a signal between parser and engine, not an error)
    def __init__(self, problems: list[Problem]):
        super().__init__(problems)
        self.problems = problems


@dataclass(frozen=True)
class SetCheck:
    """Rows the database refuses, found by one statement over the staging table (alias ``s``).

    ``where`` selects the refused rows; ``detail`` is an SQL expression evaluated for each of them and handed
    to ``reason(value, detail)`` with the value of ``column``. A check whose SQL depends on what was staged gives
    ``plan`` instead: (staging table, vendor) -> (where, detail) for this load, after a cheap look at the staged
    rows (e.g. which months they span), or None when no staged row can be refused (the check is skipped)."""

    column: str
    where: str | Callable[[str], str]  # or a function of the database vendor, for SQL that differs
    reason: Callable[[object, object], str]
    detail: str | Callable[[str], str] = "NULL"
    plan: Callable[[str, str], tuple[str, str] | None] | None = None

    def sql(self, vendor: str, stage: str = "") -> tuple[str, str] | None:
        if self.plan is not None:
            return self.plan(stage, vendor)
        where = self.where(vendor) if callable(self.where) else self.where
        detail = self.detail(vendor) if callable(self.detail) else self.detail
        return where, detail


@dataclass(frozen=True)
class IngestSpec:
    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # names of the columns that identify a row: twice in one file is a duplicate
    # A fresh parser per load (it may hold "today"). It returns the row's values as clean text in column order,
    # safe to copy as they are: no comma, quote or line break (handles, ISO dates, digits, currency codes).
    parser: Callable[[], Callable[[Sequence[str]], tuple[str, ...]]]
    set_checks: tuple[SetCheck, ...]
    # (staging table, return the changed rows' partner_id, day?) -> INSERT ... ON CONFLICT
    merge_sql: Callable[[str, bool], str]
    lock_name: str  # loads with the same lock name merge one after the other
    after_load: Callable[[Outcome], str] | None = None  # after commit; returns a sentence for the summary
    # Optional, for files whose header is exactly ``columns`` (the pipeline's everyday file): a check of one line
    # (fast_path) and of a block of lines ending with a line break (block_check), true when every row is clean
    # and can be copied as it is. What they leave to the database (e.g. comparing two columns) is a set check.
    fast_path: Callable[[], Callable[[str], bool]] | None = None
    block_check: Callable[[], Callable[[str], bool]] | None = None
    # An input that period guards watch (partnerships.ingest.guards): after a load that changed rows, they hear
    # which partners and months changed. The staging table then has a ``day`` column.
    period_input: str = ""


@dataclass
class Outcome:
    rows_processed: int = 0
    rows_rejected: int = 0
    rows_staged: int = 0
    rows_loaded: int = 0
    partner_ids: set[int] | None = None  # partners whose rows changed, when few enough to list
    partner_months: frozenset[tuple[int, dt.date]] | None = None  # their (partner, month) pairs, likewise
    day_range: tuple[dt.date, dt.date] | None = None  # first and last day staged, when the pairs are not listed
    ignored_columns: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per phase: read, check, merge (logged, benchmarked)

    @property
    def rows_unchanged(self) -> int:
        return self.rows_processed - self.rows_rejected - self.rows_loaded


# --- the staging table ------------------------------------------------------------------------------

class Stage:
    """The table a job's valid rows are copied into: filled by COPY on PostgreSQL, by batched INSERTs on SQLite.

    On PostgreSQL an UNLOGGED table named after the job: no WAL, and it lives in shared buffers, where a
    temporary table would go through the session's few megabytes of temp_buffers (twice as slow for a million
    rows, measured). A crash empties it, which is all a staging table needs; the job drops it when done and
    the next job drops any left by a worker that died. On SQLite a temporary table."""

    PREFIX = "ingest_stage_"

    def __init__(self, job_id: int, columns: Sequence[Column]):
        self.job_id = job_id
        self.name = f"{self.PREFIX}{job_id}"
        self.postgres = connection.vendor == "postgresql"
        self.columns = [("row_no", "bigint"), ("line_no", "bigint")] + [(c.stage_name, c.sql_type) for c in columns]
        self._copy = None  # (cursor, context manager, Copy) while blocks are being copied
        self._next_row = 0

    def create(self) -> None:
        which = 0 if self.postgres else 1
        definition = ", ".join(f"{name} {SQL_TYPES[kind][which]}" for name, kind in self.columns)
        if self.postgres:  # rows copied in blocks are numbered by the database, in the order they arrive
            definition = definition.replace("row_no bigint", "row_no bigint GENERATED BY DEFAULT AS IDENTITY", 1)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
            if self.postgres:
                self._drop_abandoned(cursor)
                cursor.execute(f"CREATE UNLOGGED TABLE {self.name} ({definition})")
                # Hash joins and aggregates over a million rows: in memory rather than in batches on disk.
                cursor.execute(f"SET work_mem = '{STAGE_WORK_MEM}'")
            else:
                cursor.execute(f"CREATE TEMPORARY TABLE {self.name} ({definition})")

    def _drop_abandoned(self, cursor) -> None:
        """Staging tables of jobs that are not running any more (their worker died before dropping them)."""
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE %s",
            [self.PREFIX.replace("_", r"\_") + "%"],
        )
        names = {name: int(digits) for (name,) in cursor.fetchall()
                 if (digits := name.removeprefix(self.PREFIX).removesuffix("_dup")).isdigit()}
        running = set(ImportJob.objects.filter(pk__in=set(names.values()), status=ImportJob.Status.RUNNING)
                      .exclude(pk=self.job_id).values_list("pk", flat=True))
        for name, job_id in names.items():
            if job_id not in running and job_id != self.job_id:
                cursor.execute(f"DROP TABLE IF EXISTS {name}")

    def encode(self, row: int, line: int, values: tuple[str, ...]):
        """One staged row: a line of COPY CSV on PostgreSQL (the parser's values need no quoting), a tuple of
        parameters on SQLite (its INTEGER columns take the digits as numbers)."""
        if self.postgres:
            return f"{row},{line}," + ",".join(values) + "\n"
        return (row, line, *values)

    def encode_line(self, row: int, line: int, text: str):
        """One staged row from a line of the file that the spec's fast path found clean, as it is."""
        if self.postgres:
            return f"{row},{line},{text}\n"
        return (row, line, *text.split(","))

    def write(self, rows: list) -> None:
        self.end_blocks()
        names = ", ".join(name for name, _ in self.columns)
        with connection.cursor() as cursor:
            if self.postgres:
                # COPY: about 20 times the throughput of batched INSERTs (reference §2.2); one write per batch.
                with cursor.copy(f"COPY {self.name} ({names}) FROM STDIN (FORMAT csv)") as copy:
                    copy.write("".join(rows))
            else:
                placeholders = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(f"INSERT INTO {self.name} ({names}) VALUES ({placeholders})", rows)

    def write_block(self, text: str, *, first_row: int) -> None:
        """Lines of the file copied as they are (PostgreSQL): the identity column numbers them from first_row;
        their line numbers are derived from the block's first line (Ingestion._line). Consecutive blocks go
        through one open COPY, so that checking the next block in Python overlaps the server's work on this
        one; anything else to say to the database ends it first (end_blocks)."""
        if self._copy is not None and self._next_row != first_row:
            self.end_blocks()
        if self._copy is None:
            cursor = connection.cursor()
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'row_no'), %s, %s)",
                           [self.name, max(first_row - 1, 1), first_row > 1])
            names = ", ".join(name for name, _ in self.columns[2:])
            manager = cursor.copy(f"COPY {self.name} ({names}) FROM STDIN (FORMAT csv)")
            self._copy = (cursor, manager, manager.__enter__())
        self._copy[2].write(text)
        self._next_row = first_row + text.count("\n")

    def end_blocks(self, error: BaseException | None = None) -> None:
        if self._copy is None:
            return
        cursor, manager, _ = self._copy
        self._copy = None
        try:
            manager.__exit__(type(error) if error else None, error, None)
        finally:
            cursor.close()

    def drop(self) -> None:
        try:
            self.end_blocks(error=RuntimeError("the load stopped"))
        except Exception:  # the COPY is abandoned either way
            logger.debug("ending an interrupted COPY", exc_info=True)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
                if self.postgres:
                    cursor.execute("RESET work_mem")
        except Exception:  # the session may be gone; the next job drops what is left
            logger.warning("could not drop staging table %s", self.name, exc_info=True)


# --- the error report -------------------------------------------------------------------------------

class ErrorReport:
    """Refused rows, saved to storage (import-reports/) at the end, in row order.

    Rows are refused in several passes (while reading, then by each set-based check), each pass in row order:
    each pass is streamed to its own temporary file, and saving merges them, so the report is sorted without
    holding it in memory."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self._runs: list = []
        self._writer = None

    def new_pass(self) -> None:
        self._writer = None

    def add(self, row: int, line: int, column: str, value, reason: str) -> None:
        if self._writer is None:
            run = tempfile.TemporaryFile(mode="w+", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
            self._runs.append(run)
            self._writer = csv.writer(run)
        # People open the report in a spreadsheet: a refused value may be a formula someone slipped in.
        self._writer.writerow([row, line, safe_cell(column), safe_cell(display(value)), safe_cell(reason)])

    def save(self) -> str:
        if not self._runs:
            return ""
        for run in self._runs:
            run.seek(0)
        passes = [csv.reader(run) for run in self._runs]
        with tempfile.TemporaryFile(mode="w+", newline="", encoding="utf-8") as merged:
            writer = csv.writer(merged)
            writer.writerow(REPORT_HEADER)
            writer.writerows(heapq.merge(*passes, key=lambda record: (int(record[0]), int(record[1]))))
            merged.seek(0)
            name = f"{REPORT_DIRECTORY}/job-{self.job_id}-errors.csv"
            if default_storage.exists(name):
                default_storage.delete(name)  # a re-run of the same job replaces its report
            return default_storage.save(name, File(merged, name=name))

    def close(self) -> None:
        for run in self._runs:
            run.close()
        self._runs = []


# --- one load ---------------------------------------------------------------------------------------

class Ingestion:
    def __init__(self, job: ImportJob, spec: IngestSpec):
        self.job = job
        self.spec = spec
        self.outcome = Outcome()
        self.report = ErrorReport(job.pk)
        self.stage = Stage(job.pk, spec.columns)
        self.blocks: list[tuple[int, int]] = []  # (first row, its line) of every block copied as it is

    def run(self) -> Outcome:
        try:
            with open_source(self.job.file_path) as source:
                ImportJob.objects.filter(pk=self.job.pk).update(bytes_total=source.size)
                self.job.bytes_total = source.size
                order = self._columns(source.header)
                self.stage.create()
                try:
                    with self._phase("read"):
                        self._load(source, order)
                    if self.outcome.rows_processed == 0:
                        raise IngestFailed(FILE_NO_ROWS)
                    self._progress(message="Checking the rows against the database…")
                    with self._phase("check"):
                        for check in self.spec.set_checks:
                            self._set_check(check)
                        self._duplicates()
                    self._progress(message=f"Merging {self.outcome.rows_staged:,} rows…")
                    with self._phase("merge"):
                        self._merge()
                finally:
                    self.stage.drop()
            self.job.error_report_path = self.report.save()
        finally:
            self.report.close()
        return self.outcome

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.outcome.seconds[name] = time.perf_counter() - started
            logger.info("import job %s: %s took %.2f s", self.job.pk, name, self.outcome.seconds[name])

    def _columns(self, header: list[str]) -> list[int]:
        names = [column.name for column in self.spec.columns]
        repeated = sorted({name for name in header if name and header.count(name) > 1})
        if repeated:
            raise IngestFailed(FILE_DUPLICATE_COLUMNS.format(columns=", ".join(repeated)))
        missing = [name for name in names if name not in header]
        if missing:
            raise IngestFailed(FILE_MISSING_COLUMNS.format(missing=", ".join(missing), expected=", ".join(names)))
        self.outcome.ignored_columns = [name for name in header if name and name not in names]
        return [header.index(name) for name in names]

    def _reject(self, row: int, line: int, problems: list[Problem]) -> None:
        self.outcome.rows_rejected += 1
        for problem in problems:
            self.report.add(row, line, problem.column, problem.value, problem.reason)

    def _load(self, source, order: list[int]) -> None:
        """Parse every row; valid ones go to the staging table in batches, refused ones to the report.

        Three speeds, all giving the same result. A block of the pipeline's everyday file (exactly the spec's
        columns, every line clean) is checked by one regular expression and copied as it is, the database
        numbering its rows (PostgreSQL). Otherwise line by line: a clean line is checked by the spec's line
        check and copied as it is; any other line is read by the csv module and the spec's parser, which names
        every problem."""
        spec, outcome = self.spec, self.outcome
        parse = spec.parser()
        canonical = source.header == [column.name for column in spec.columns]
        clean_block = spec.block_check() if canonical and spec.block_check and self.stage.postgres else None
        clean_line = spec.fast_path() if canonical and spec.fast_path is not None else None
        pick = operator.itemgetter(*order)
        width = len(source.header)
        encode, encode_line = self.stage.encode, self.stage.encode_line
        batch: list = []
        row, line = 0, source.header_lines
        with reading():
            while block := source.block(BLOCK_CHARACTERS):
                if clean_block is not None:
                    text = block if block.endswith("\n") else block + "\n"
                    if "\r" in text:
                        text = text.replace("\r\n", "\n")
                    if clean_block(text):
                        count = text.count("\n")
                        self.stage.write_block(text, first_row=row + 1)
                        self.blocks.append((row + 1, line + 1))
                        row, line = row + count, line + count
                        outcome.rows_processed, outcome.rows_staged = row, outcome.rows_staged + count
                        if len(self.blocks) % BLOCKS_PER_PROGRESS == 0:
                            self.stage.end_blocks()
                            self._progress(bytes_processed=source.bytes_read())
                        continue
                lines = iter(block.splitlines(keepends=True))
                more = itertools.chain(lines, source.more_lines())  # a quoted value may span lines
                for text in lines:
                    line += 1
                    if clean_line is not None:
                        body = text.rstrip("\r\n")
                        if clean_line(body):
                            row += 1
                            batch.append(encode_line(row, line, body))
                            if len(batch) >= STAGE_BATCH_ROWS:
                                outcome.rows_processed = row
                                self._stage_batch(batch, source)
                                batch = []
                            continue
                    start = line
                    values, used = source.record(text, start, more)
                    line += used - 1
                    if not values or (len(values) == 1 and not values[0].strip()):
                        continue  # a blank line
                    row += 1
                    outcome.rows_processed = row
                    # Trailing empty cells (a spreadsheet's habit) are harmless; anything else is a broken row.
                    if len(values) != width and (len(values) < width
                                                 or any(value.strip() for value in values[width:])):
                        self._reject(row, start, [Problem("", "", ROW_WIDTH.format(expected=width,
                                                                                   found=len(values)))])
                        continue
                    try:
                        clean = parse(pick(values))
                    except RowRejected as rejected:
                        self._reject(row, start, rejected.problems)
                        continue
                    batch.append(encode(row, start, clean))
                    if len(batch) >= STAGE_BATCH_ROWS:
                        self._stage_batch(batch, source)
                        batch = []
        outcome.rows_processed = row
        self.stage.end_blocks()
        if batch:
            self._stage_batch(batch, source)
        ImportJob.objects.filter(pk=self.job.pk).update(bytes_processed=self.job.bytes_total)

    def _line(self, row: int, line: int | None) -> int:
        """A staged row's line: stored for rows read one by one, derived for rows copied in blocks."""
        if line is not None:
            return line
        index = bisect.bisect_right(self.blocks, (row, float("inf"))) - 1
        first_row, first_line = self.blocks[index]
        return first_line + row - first_row

    def _stage_batch(self, batch: list, source) -> None:
        self.stage.write(batch)
        self.outcome.rows_staged += len(batch)
        self._progress(bytes_processed=source.bytes_read())

    def _progress(self, **fields) -> None:
        """Outside the merge's transaction: the admin's progress bar reads these while the load runs."""
        ImportJob.objects.filter(pk=self.job.pk).update(
            rows_processed=self.outcome.rows_processed, rows_rejected=self.outcome.rows_rejected, **fields
        )

    def _refused(self, sql: str) -> Iterator[tuple]:
        # A server-side cursor on PostgreSQL: a file of a million unknown handles is reported without
        # holding a million rows in memory.
        with contextlib.closing(connection.chunked_cursor()) as cursor:
            cursor.execute(sql)
            while rows := cursor.fetchmany(REPORT_FETCH_ROWS):
                yield from rows

    def _remove(self, select_row_numbers: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.stage.name} WHERE row_no IN ({select_row_numbers})")

    def _set_check(self, check: SetCheck) -> None:
        stage = self.stage.name
        column = next(c for c in self.spec.columns if c.name == check.column)
        planned = check.sql(connection.vendor, stage)
        if planned is None:
            return
        where, detail_sql = planned
        self.report.new_pass()
        found = 0
        for row, line, value, detail in self._refused(
            f"SELECT s.row_no, s.line_no, s.{column.stage_name}, {detail_sql} FROM {stage} s "
            f"WHERE {where} ORDER BY s.row_no"
        ):
            found += 1
            self._reject(row, self._line(row, line), [Problem(check.column, value, check.reason(value, detail))])
        if found:
            self._remove(f"SELECT s.row_no FROM {stage} s WHERE {where}")
            self.outcome.rows_staged -= found

    def _duplicates(self) -> None:
        """The same key twice in one file: the first row is kept, the others refused (an upsert could not
        say which one wins, and PostgreSQL refuses to update a row twice in one statement)."""
        stage, duplicates = self.stage.name, f"{self.stage.name}_dup"
        key = [c.stage_name for c in self.spec.columns if c.name in self.spec.key]
        columns = ", ".join(key)
        join = " AND ".join(f"s.{name} = d.{name}" for name in key)
        label = " and ".join(self.spec.key)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {duplicates}")
            kind = "UNLOGGED" if self.stage.postgres else "TEMPORARY"
            cursor.execute(
                f"CREATE {kind} TABLE {duplicates} AS SELECT {columns}, MIN(row_no) AS first_row "
                f"FROM {stage} GROUP BY {columns} HAVING COUNT(*) > 1"
            )
        try:
            refused = f"FROM {stage} s JOIN {duplicates} d ON {join} WHERE s.row_no <> d.first_row"
            self.report.new_pass()
            found = 0
            for row, line, first in self._refused(f"SELECT s.row_no, s.line_no, d.first_row {refused} ORDER BY 1"):
                found += 1
                self._reject(row, self._line(row, line), [Problem(", ".join(self.spec.key), "", DUPLICATE_ROW.format(
                    first=first, key=label))])
            if found:
                self._remove(f"SELECT s.row_no {refused}")
                self.outcome.rows_staged -= found
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {duplicates}")

    def _merge(self) -> None:
        if self.outcome.rows_staged == 0:
            return
        with transaction.atomic():
            lock_merges(self.spec.lock_name)
            self._upsert()
            if self.spec.period_input and self.outcome.partner_months is None and self.outcome.rows_loaded:
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT MIN(day), MAX(day) FROM {self.stage.name}")
                    first, last = cursor.fetchone()
                self.outcome.day_range = (guards.as_date(first), guards.as_date(last))

    def _upsert(self) -> None:
        outcome = self.outcome
        # Few rows: learn which partners changed (their statistics are refreshed). Many: refresh them all.
        returning = 0 < outcome.rows_staged <= PARTNER_LIST_LIMIT
        with connection.cursor() as cursor:
            cursor.execute(self.spec.merge_sql(self.stage.name, returning))
            if returning:
                changed = cursor.fetchall()
                outcome.rows_loaded = len(changed)
                outcome.partner_ids = {partner_id for partner_id, _ in changed}
                outcome.partner_months = guards.partner_months(changed)
            else:
                outcome.rows_loaded = max(cursor.rowcount, 0)


def upsert_rows(*, table: str, columns: Sequence[tuple[str, str]], conflict: Sequence[str], rows: list[tuple]
                ) -> int:
    """Write rows already checked, in one statement: insert, or update the row with the same ``conflict`` key
    when a value differs (so an identical row is not rewritten). Rows go in key order, the order every writer
    of the table uses. ``columns`` are (name, PostgreSQL type); PostgreSQL takes one array per column
    (INSERT ... SELECT FROM unnest), SQLite a batch of INSERTs. Returns the number of rows written."""
    if not rows:
        return 0
    rows = sorted(rows, key=operator.itemgetter(*range(len(conflict))))
    names = [name for name, _ in columns]
    updated = [name for name in names if name not in conflict]
    head = f"INSERT INTO {table} AS t ({', '.join(names)})"
    tail = (f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in updated)
            + f" WHERE ({', '.join(f't.{name}' for name in updated)}) <> "
              f"({', '.join(f'excluded.{name}' for name in updated)})")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
            cursor.execute(f"{head} SELECT * FROM unnest({arrays}) {tail}",
                           [list(column) for column in zip(*rows, strict=True)])
            return cursor.rowcount
        dates = [index for index, (_, kind) in enumerate(columns) if kind == "date"]
        if dates:
            rows = [tuple(value.isoformat() if index in dates else value for index, value in enumerate(row))
                    for row in rows]
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"{head} VALUES ({placeholders}) {tail}", rows)
        return cursor.rowcount


def lock_merges(name: str) -> None:
    """Inside a transaction: wait for other writers of the same table (PostgreSQL; SQLite writes one at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])


@contextlib.contextmanager
def claimed(job_id: int) -> Iterator[bool]:
    """True when this process may run the job: not while another worker runs the same job (a duplicated
    task message). The lock is the session's, so a worker that dies releases it."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = [CLAIM_NAMESPACE, job_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def summary(outcome: Outcome, extra: str = "") -> str:
    text = (
        f"{outcome.rows_processed:,} rows read: {outcome.rows_loaded:,} loaded (new or changed), "
        f"{outcome.rows_unchanged:,} unchanged, {outcome.rows_rejected:,} rejected"
        + (" (see the error report)." if outcome.rows_rejected else ".")
    )
    if outcome.ignored_columns:
        text += f" Ignored the column(s) {', '.join(outcome.ignored_columns)}."
    return text + (f" {extra}" if extra else "")


def ingest_run(*, job_id: int, spec: IngestSpec, after_load: bool = True) -> ImportJob:
    """Run one ingestion job to its end: SUCCEEDED with counts (and a report of refused rows), or FAILED with
    the reason and nothing written. A job that already succeeded is not run again."""
    job = ImportJob.objects.get(pk=job_id)
    if job.kind != spec.kind:
        raise ValueError(f"job {job_id} is a {job.kind} job, not {spec.kind}")
    if job.status == ImportJob.Status.SUCCEEDED:
        return job
    with claimed(job.pk) as mine:
        if not mine:
            logger.info("import job %s is already being run by another worker", job.pk)
            return job
        job.status, job.started_at, job.finished_at = ImportJob.Status.RUNNING, timezone.now(), None
        job.rows_processed = job.rows_loaded = job.rows_rejected = job.bytes_processed = 0
        job.error_report_path, job.message = "", "Reading the file…"
        job.save()
        ingestion = Ingestion(job, spec)
        try:
            outcome = ingestion.run()
        except IngestFailed as exc:
            _finish(job, ingestion.outcome, ImportJob.Status.FAILED, str(exc), loaded=False)
            return job
        except Exception as exc:
            _finish(job, ingestion.outcome, ImportJob.Status.FAILED,
                    FILE_UNEXPECTED.format(error=f"{type(exc).__name__}: {exc}"), loaded=False)
            raise
        extra = ""
        if after_load and spec.after_load is not None and outcome.rows_loaded:
            extra = spec.after_load(outcome)
        _finish(job, outcome, ImportJob.Status.SUCCEEDED, summary(outcome, extra), loaded=True)
        if spec.period_input and outcome.rows_loaded:
            _inputs_loaded(job, spec, outcome)
    return job


def _inputs_loaded(job: ImportJob, spec: IngestSpec, outcome: Outcome) -> None:
    """Tell the period guards what the load changed (they may mark computed payout runs stale)."""
    if outcome.partner_months is not None:
        months = sorted(month for _, month in outcome.partner_months)
        first, last = months[0], months[-1]
    else:
        first, last = outcome.day_range
    user = job.created_by
    guards.period_inputs_loaded(guards.LoadedInputs(
        input=spec.period_input, partner_months=outcome.partner_months, first_day=first, last_day=last,
        rows=outcome.rows_loaded, source=f"import job {job.pk}" + (f" ({user})" if user is not None else ""),
        loaded_on=timezone.localdate(),
    ))


def _finish(job: ImportJob, outcome: Outcome, status: str, message: str, *, loaded: bool) -> None:
    job.status, job.message, job.finished_at = status, message, timezone.now()
    job.rows_processed, job.rows_rejected = outcome.rows_processed, outcome.rows_rejected
    job.rows_loaded = outcome.rows_loaded if loaded else 0
    if loaded:
        job.bytes_processed = job.bytes_total
    else:
        job.error_report_path = ""
    job.save()
