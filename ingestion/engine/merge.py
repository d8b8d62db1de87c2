"""The merge of checked rows into the real table: one transaction, taking turns with other loads of the same
table, an upsert that only rewrites rows whose values differ. For an input that period guards watch, the same
transaction holds the months open (ingestion.guards.hold_open_months), checks the closed periods again — a run
approved since the check phase closes its month — and tells the guards what changed, so the runs it makes stale
are stale when it commits."""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.sql import jit_off_for_transaction
from ingestion import guards

if TYPE_CHECKING:
    from ingestion.engine.spec import IngestSpec, Outcome, SetCheck
    from ingestion.engine.stage import Stage
    from ingestion.models import ImportJob

CARDINALITY_VIOLATION = "21000"  # ON CONFLICT DO UPDATE command cannot affect row a second time
PARTNER_LIST_LIMIT = 50_000  # above this many rows, the partners a load changed are not listed one by one


class RepeatedKeys(Exception):
    """The staged rows repeat a key: the merge's savepoint is rolled back (StagedMerge._upsert)."""


class StagedMerge:
    """The merge of an Ingestion (engine.load), which provides stage, spec and outcome."""

    # Declared for the type checker only: Ingestion sets them in __init__.
    stage: Stage
    spec: IngestSpec
    outcome: Outcome
    job: ImportJob

    if TYPE_CHECKING:
        def _set_check(self, check: SetCheck) -> None: ...

        def _duplicates(self) -> int: ...

        def _repeats_staged(self) -> bool: ...

    def _honour_stop(self, *, lock: bool = False) -> None:
        """Stop here when the job was asked to (Ingestion's)."""

    def _merge(self) -> None:
        with transaction.atomic():
            self._honour_stop(lock=True)  # the last moment a stop request is honoured: nothing is written yet
            if self.outcome.rows_staged == 0:
                return
            lock_merges(self.spec.lock_name)
            jit_off_for_transaction()
            if self.spec.period_input:
                guards.hold_open_months()
                for check in self.spec.set_checks:
                    if check.again_at_merge:
                        self._set_check(check)
                if self.outcome.rows_staged == 0:
                    return
            if self.spec.before_merge is not None:
                started = time.perf_counter()
                self.spec.before_merge(self.stage.name)
                self.outcome.seconds["merge_before"] = time.perf_counter() - started
            self._upsert()
            if self.spec.after_merge is not None:
                started = time.perf_counter()
                self.spec.after_merge()
                self.outcome.seconds["merge_after"] = time.perf_counter() - started
            if self.spec.period_input and self.outcome.rows_loaded:
                if self.outcome.partner_months is None and self.outcome.day_range is None:
                    with connection.cursor() as cursor:
                        cursor.execute(f"SELECT MIN(day), MAX(day) FROM {self.stage.name}")
                        first, last = cursor.fetchone()
                    self.outcome.day_range = (guards.as_date(first), guards.as_date(last))
                self._inputs_loaded()

    def _inputs_loaded(self) -> None:
        """Tell the period guards what the load changed (they may mark computed payout runs stale)."""
        outcome = self.outcome
        if outcome.partner_months is not None:
            months = sorted(month for _, month in outcome.partner_months)
            first, last = months[0], months[-1]
        else:
            assert outcome.day_range is not None  # set by _merge when the changed rows were not listed
            first, last = outcome.day_range
        user = self.job.created_by
        guards.period_inputs_loaded(guards.LoadedInputs(
            input=self.spec.period_input, partner_months=outcome.partner_months, first_day=first, last_day=last,
            rows=outcome.rows_loaded, source=f"import job {self.job.pk}" + (f" ({user})" if user is not None else ""),
            loaded_on=timezone.localdate(),
        ))

    def _repeats_left_to_merge(self) -> bool:
        """True when the check phase leaves keys repeated in the file, and the checks of rows the merge leaves out
        (SetCheck.left_out_by_merge), to the merge (IngestSpec.merge_refuses_repeats, PostgreSQL): grouping every
        staged row by key took 1.4 s at 1,000,000 rows, looking up every row's partner 0.7 s, for a file with
        neither repeats nor unknown partners."""
        return self.spec.merge_refuses_repeats and self.stage.postgres

    def _checks_left_to_merge(self) -> tuple[SetCheck, ...]:
        """The spec's checks the check phase skips: run after the merge, when it wrote fewer rows than staged."""
        if not self._repeats_left_to_merge():
            return ()
        return tuple(check for check in self.spec.set_checks if check.left_out_by_merge)

    def _upsert(self) -> None:
        """The merge statement; where repeats are left to it, in a savepoint. ON CONFLICT DO UPDATE refuses to change
        a row twice, so a repeated key fails the statement when its first row was written. When it was not (its
        values equal the stored ones: the update's WHERE skips it), the repeat goes by silently: so when fewer rows
        were written than staged, the staged rows are grouped by key after all. With repeats the savepoint is rolled
        back. Then, when fewer rows were written than staged or with repeats, the checks left to the merge run (their
        rows were not written), the repeats are refused (the first row of each key stays), in the check phase's
        order, and the merge runs again. When every staged row was written, none repeated a key and none was left
        out."""
        if not self._repeats_left_to_merge():
            self._write()
            return
        repeated = False
        try:
            with transaction.atomic():
                self._write()
                if self.outcome.rows_loaded < self.outcome.rows_staged and self._repeats_staged():
                    raise RepeatedKeys
        except RepeatedKeys:
            repeated = True
        except DatabaseError as exc:  # the same SQLSTATE from anything else is raised as it is
            if getattr(exc.__cause__, "sqlstate", None) != CARDINALITY_VIOLATION or not self._repeats_staged():
                raise
            repeated = True
        if repeated or self.outcome.rows_loaded < self.outcome.rows_staged:
            for check in self._checks_left_to_merge():
                self._set_check(check)
        if repeated:
            self._duplicates()
            self._write()

    def _write(self) -> None:
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
            elif cursor.description is not None:  # a statement that SELECTs its count (rollups: one WITH)
                count, *days = cursor.fetchone()  # and the first and last day it changed, when it says
                outcome.rows_loaded = int(count)
                if len(days) == 2 and days[0] is not None:
                    outcome.day_range = (guards.as_date(days[0]), guards.as_date(days[1]))
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
