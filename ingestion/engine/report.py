"""The error report of a load: every refused row with its row, line, column, value and reason."""

from __future__ import annotations

import csv
import heapq
import tempfile
from typing import IO, TYPE_CHECKING

from django.core.files import File
from django.core.files.storage import default_storage

from core.spreadsheets import safe_cell
from ingestion.fields import display

if TYPE_CHECKING:
    from _csv import Writer

REPORT_DIRECTORY = "import-reports"
REPORT_HEADER = ["row", "line", "column", "value", "reason"]


class ErrorReport:
    """Refused rows, saved to storage (import-reports/) at the end, in row order.

    Rows are refused in several passes (while reading, then by each set-based check), each pass in row order:
    each pass is streamed to its own temporary file, and saving merges them, so the report is sorted without
    holding it in memory."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self._runs: list[IO[str]] = []
        self._writer: Writer | None = None

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
            in_row_order = heapq.merge(*passes, key=lambda record: (int(record[0]), int(record[1])))
            writer.writerows(in_row_order)
            merged.seek(0)
            name = f"{REPORT_DIRECTORY}/job-{self.job_id}-errors.csv"
            if default_storage.exists(name):
                default_storage.delete(name)  # a re-run of the same job replaces its report
            return default_storage.save(name, File(merged, name=name))

    def close(self) -> None:
        for run in self._runs:
            run.close()
        self._runs = []
