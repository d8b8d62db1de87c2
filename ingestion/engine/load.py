"""One load: read the file, check every row in Python, stage the valid rows, then run the set-based checks
(engine.checks) and the merge (engine.merge)."""

from __future__ import annotations

import bisect
import contextlib
import itertools
import logging
import operator
import time
from collections.abc import Iterator

from django.contrib.auth import get_user_model

from core.files import FILE_DUPLICATE_COLUMNS, FILE_MISSING_COLUMNS, FILE_NO_ROWS
from ingestion.engine.checks import StagedChecks
from ingestion.engine.merge import StagedMerge
from ingestion.engine.report import ErrorReport
from ingestion.engine.spec import IngestSpec, Outcome, Problem, RowRejected
from ingestion.engine.stage import Stage
from ingestion.exceptions import JOB_CANCELLED, ROW_WIDTH, IngestCancelled, IngestFailed
from ingestion.models import ImportJob
from ingestion.reader import open_source, reading

logger = logging.getLogger(__name__)

STAGE_BATCH_ROWS = 50_000  # rows per COPY (or executemany) between two progress updates
BLOCK_CHARACTERS = 1 << 20  # about 16,000 rows of daily metrics per block
BLOCKS_PER_PROGRESS = 8  # progress is written (ending the open COPY) every 8 blocks


class Ingestion(StagedChecks, StagedMerge):
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
                        left = self._checks_left_to_merge()
                        for check in self.spec.set_checks:
                            if check not in left:
                                self._set_check(check)
                        if not self._repeats_left_to_merge():
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
        """Outside the merge's transaction: the admin's progress bar reads these while the load runs. Between two
        chunks, so this is also where a stop request is honoured (nothing has reached the real table yet)."""
        self._honour_stop()
        ImportJob.objects.filter(pk=self.job.pk).update(
            rows_processed=self.outcome.rows_processed, rows_rejected=self.outcome.rows_rejected, **fields
        )

    def _honour_stop(self, *, lock: bool = False) -> None:
        """Raise IngestCancelled when someone asked the job to stop (ingestion.jobs.import_job_cancel). ``lock``:
        inside the merge's transaction, holding the job's row so that a request either comes before the merge
        (and is honoured) or waits for the merge's commit (and finds it complete)."""
        jobs = ImportJob.objects.filter(pk=self.job.pk)
        if lock:
            jobs = jobs.select_for_update()
        requested = jobs.values_list("cancel_requested_at", "cancel_requested_by_id").first()
        if requested is None or requested[0] is None:
            return
        requester = get_user_model().objects.filter(pk=requested[1]).first()
        raise IngestCancelled(JOB_CANCELLED.format(user=requester or "someone", rows=self.outcome.rows_processed))
