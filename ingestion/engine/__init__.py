"""The machinery of bulk ingestion, whatever the file holds: read the CSV as a stream, check every row in
Python, COPY the valid rows into a staging table of the job's own, check them against the database in a few
set-based statements, and merge them into the real table in one transaction.

An ``IngestSpec`` says what a kind of file holds: its columns, how a row is parsed, which rows the database
refuses (an unknown partner, a currency no program pays in) and the merge statement. Daily metrics
(partnerships.ingest_metrics) and ad revenue (payouts.ingest) are two specs over this engine.

Invariants:
- Nothing reaches the real table before every row was read and checked, and the merge is one transaction: a
  load that stops (a file that is not CSV, a worker that dies) leaves the table as it was.
- A job someone stops (ingestion.jobs.import_job_cancel) stops between two chunks of the file or, at the
  latest, at the start of the merge's transaction (holding the job's row, so a stop either comes first or finds
  the merge committed): a stopped load writes nothing and ends CANCELLED.
- A refused row never reaches the real table; it is listed in the error report (row, line, column, value,
  reason) and counted. The valid rows load. A key repeated in the file keeps its first row; on PostgreSQL the
  merge finds the repeats (in a savepoint it rolls back to, then merges again without them) rather than the
  check phase grouping every row.
- Loading the same file again changes nothing: the merge is an upsert on the table's natural key that only
  updates rows whose values differ.
- Two loads of the same kind take turns for the merge (a transaction-scoped advisory lock on PostgreSQL), so
  overlapping files end with each key once, holding one file's values, without deadlocks.
- Memory stays flat: rows are streamed in batches, refusals are streamed to a file, and nothing holds the
  whole file or all its keys in Python.

The stages, one module each: ``spec`` (what a kind of file holds: IngestSpec, Column, SetCheck, Outcome),
``stage`` (the staging table), ``load`` (reading and row checks), ``checks`` (set-based checks and duplicates
over the staging table), ``merge`` (the merge into the real table and its lock), ``report`` (the error report)
and ``run`` (one job from start to end: claim, bookkeeping, summary).
"""
