"""One ingestion job from start to end: claimed by one worker, run, and its outcome written on the job."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from django.db import connection, transaction
from django.utils import timezone

from core.files import FILE_UNEXPECTED
from ingestion.engine.load import Ingestion
from ingestion.engine.spec import IngestSpec, Outcome
from ingestion.exceptions import IngestCancelled, IngestFailed
from ingestion.models import ImportJob

logger = logging.getLogger(__name__)

ENDED = (ImportJob.Status.SUCCEEDED, ImportJob.Status.CANCELLED)  # never run again (a failed job may be)
CLAIM_NAMESPACE = 0x494A  # advisory lock namespace of "this job is being run"


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
        text += f" Ignored {'this column' if len(outcome.ignored_columns) == 1 else 'these columns'}: " \
                f"{', '.join(outcome.ignored_columns)}."
    return text + (f" {extra}" if extra else "")


def ingest_run(*, job_id: int, spec: IngestSpec, after_load: bool = True) -> ImportJob:
    """Run one ingestion job to its end: SUCCEEDED with counts (and a report of refused rows), FAILED with the
    reason and nothing written, or CANCELLED (someone stopped it before its merge) with nothing written. A job
    that already succeeded, or was cancelled, is not run again."""
    job = ImportJob.objects.get(pk=job_id)
    if job.kind != spec.kind:
        raise ValueError(f"job {job_id} is a {job.kind} job, not {spec.kind}")
    if job.status in ENDED:
        return job
    with claimed(job.pk) as mine:
        if not mine:
            logger.info("import job %s is already being run by another worker", job.pk)
            return job
        with transaction.atomic():  # ordered with import_job_cancel by the job's row lock
            job = ImportJob.objects.select_for_update().get(pk=job_id)
            if job.status in ENDED:
                return job
            job.status, job.started_at, job.finished_at = ImportJob.Status.RUNNING, timezone.now(), None
            job.rows_processed = job.rows_loaded = job.rows_rejected = job.bytes_processed = 0
            job.cancel_requested_at = job.cancel_requested_by = None
            job.error_report_path, job.message = "", "Reading the file…"
            job.save()
        ingestion = Ingestion(job, spec)
        try:
            outcome = ingestion.run()
        except IngestCancelled as exc:
            _finish(job, ingestion.outcome, ImportJob.Status.CANCELLED, str(exc), loaded=False)
            return job
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
    return job


def _finish(job: ImportJob, outcome: Outcome, status: str, message: str, *, loaded: bool) -> None:
    job.status, job.message, job.finished_at = status, message, timezone.now()
    job.rows_processed, job.rows_rejected = outcome.rows_processed, outcome.rows_rejected
    job.rows_loaded = outcome.rows_loaded if loaded else 0
    if loaded:
        job.bytes_processed = job.bytes_total
    else:
        job.error_report_path = ""
    # Not the stop request's fields: a request that came during the merge is the requester's, kept as it is.
    job.save(update_fields=["status", "message", "finished_at", "rows_processed", "rows_rejected", "rows_loaded",
                            "bytes_processed", "error_report_path", "bytes_total"])
