"""Checks of the staged rows against the database, in a few set-based statements: the spec's set checks, then
rows repeating a key of the file. A refused row is reported and removed from the staging table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.db import connection

from ingestion.engine.spec import Problem, SetCheck
from ingestion.exceptions import DUPLICATE_ROW

if TYPE_CHECKING:
    from ingestion.engine.report import ErrorReport
    from ingestion.engine.spec import IngestSpec, Outcome
    from ingestion.engine.stage import Stage

REPORT_FETCH_ROWS = 5_000


class StagedChecks:
    """The set-based checks of an Ingestion (engine.load), which provides stage, spec, outcome, report,
    _reject and _line."""

    # Declared for the type checker only: Ingestion sets these in __init__ and defines the two methods.
    stage: Stage
    spec: IngestSpec
    outcome: Outcome
    report: ErrorReport

    if TYPE_CHECKING:
        def _reject(self, row: int, line: int, problems: list[Problem]) -> None: ...

        def _line(self, row: int, line: int | None) -> int: ...

    def _refused(self, sql: str) -> Iterator[tuple[Any, ...]]:
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

    def _key_columns(self) -> list[str]:
        return [c.stage_name for c in self.spec.columns if c.name in self.spec.key]

    def _repeats_staged(self) -> bool:
        """True when a key of the spec is on more than one staged row (nothing reported or removed)."""
        columns = ", ".join(self._key_columns())
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.stage.name} GROUP BY {columns} HAVING COUNT(*) > 1)")
            return bool(cursor.fetchone()[0])

    def _duplicates(self) -> int:
        """The same key twice in one file: the first row is kept, the others refused (an upsert could not
        say which one wins, and PostgreSQL refuses to update a row twice in one statement). Returns the number of
        rows refused."""
        stage, duplicates = self.stage.name, f"{self.stage.name}_dup"
        key = self._key_columns()
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
            return found
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {duplicates}")
