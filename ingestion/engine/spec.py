"""What a kind of file holds, for the engine: its columns, how a row is parsed, which rows the database refuses
and how the valid rows are merged; and what one load did (Outcome)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


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
    # Checked again inside the merge's transaction, under the lock that closing a period takes: what it refuses
    # can change between the check phase and the merge (a run approved meanwhile closes its month).
    again_at_merge: bool = False
    # The rows it refuses are rows the merge statement leaves out by itself (its join to partners finds none). Where
    # the merge finds repeated keys (IngestSpec.merge_refuses_repeats, PostgreSQL) it runs only after a merge that
    # wrote fewer rows than were staged: a merge that wrote every row left none out. It must then be a check no
    # earlier check depends on (its rows, refused later, must not change what those refuse).
    left_out_by_merge: bool = False

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
    # An input that period guards watch (ingestion.guards): after a load that changed rows, they hear
    # which partners and months changed. The staging table then has a ``day`` column.
    period_input: str = ""
    # Inside the merge's transaction, under its lock: before the upsert (given the staging table) and after it.
    # Daily metrics keep their monthly rollups with them (partnerships.services.rollups).
    before_merge: Callable[[str], None] | None = None
    after_merge: Callable[[], object] | None = None
    # merge_sql's upsert targets a unique key that ``key`` names one to one (a handle stands for one partner): on
    # PostgreSQL a key twice in the file makes it fail (ON CONFLICT DO UPDATE refuses to change a row twice), so the
    # repeated keys are looked for only then (ingestion.engine.merge), not by grouping every staged row first.
    merge_refuses_repeats: bool = False


@dataclass
class Outcome:
    rows_processed: int = 0
    rows_rejected: int = 0
    rows_staged: int = 0
    rows_loaded: int = 0
    partner_ids: set[int] | None = None  # partners whose rows changed, when few enough to list
    partner_months: frozenset[tuple[int, dt.date]] | None = None  # their (partner, month) pairs, likewise
    # First and last day the merge changed (or, when its statement does not say, staged), when the pairs are not listed
    day_range: tuple[dt.date, dt.date] | None = None
    ignored_columns: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per phase: read, check, merge (logged, benchmarked)

    @property
    def rows_unchanged(self) -> int:
        return self.rows_processed - self.rows_rejected - self.rows_loaded
