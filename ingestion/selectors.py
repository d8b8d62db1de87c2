"""Reads of import jobs shared by the job page, its status endpoint and the command: the state in words (a
load that refused rows says so, never a bare "succeeded"), the progress and the JSON the page polls."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from ingestion.models import ImportJob

STATE_QUEUED = "Queued — waiting for a worker"
STATE_RUNNING = "Running — {percent}%"
STATE_STOPPING = "Stopping — {percent}%"
STATE_COMPLETED = "Completed"
STATE_COMPLETED_REFUSED = "Completed — {count:,} row{s} refused"
STATE_FAILED = "Failed — nothing loaded"
STATE_CANCELLED = "Cancelled — nothing loaded"


def job_percent(job: ImportJob) -> int:
    """How far the reading got, from the bytes read; 100 once the job has ended."""
    if job.is_final:
        return 100
    if not job.bytes_total:
        return 0
    return min(99, round(100 * job.bytes_processed / job.bytes_total))  # 100 only once it has really ended


def job_state(job: ImportJob) -> str:
    """The job's state as people should read it, naming refused rows: "Completed — 5 rows refused"."""
    status = job.status
    if status == ImportJob.Status.QUEUED:
        return STATE_QUEUED
    if status == ImportJob.Status.RUNNING:
        template = STATE_STOPPING if job.cancel_requested_at else STATE_RUNNING
        return template.format(percent=job_percent(job))
    if status == ImportJob.Status.SUCCEEDED:
        if job.rows_rejected:
            return STATE_COMPLETED_REFUSED.format(count=job.rows_rejected, s="" if job.rows_rejected == 1 else "s")
        return STATE_COMPLETED
    if status == ImportJob.Status.CANCELLED:
        return STATE_CANCELLED
    return STATE_FAILED


def job_report_url(job: ImportJob) -> str | None:
    if not job.error_report_path:
        return None
    return reverse("admin:ingestion_importjob_report", args=[job.pk])


def job_status(job: ImportJob) -> dict[str, Any]:
    """What the job page polls: small, and the same words the page shows."""
    return {
        "id": job.pk,
        "status": job.status,
        "state": job_state(job),
        "final": job.is_final,
        "stopping": bool(job.cancel_requested_at) and not job.is_final,
        "percent": job_percent(job),
        "rows_processed": job.rows_processed,
        "rows_loaded": job.rows_loaded,
        "rows_rejected": job.rows_rejected,
        "message": job.message,
        "report_url": job_report_url(job),
    }
