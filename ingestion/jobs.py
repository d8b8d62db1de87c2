"""Ingestion jobs: created from a command's file or an admin upload, run by a Celery task of their kind
(ingestion.registry says which)."""

from __future__ import annotations

import os
import uuid

from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db import OperationalError, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from ingestion.exceptions import (
    JOB_ALREADY_FINISHED,
    JOB_BEING_WRITTEN,
    JOB_CANCELLED_QUEUED,
    JOB_NOT_PERMITTED,
    IngestionError,
    NotPermitted,
)
from ingestion.models import ImportJob
from ingestion.registry import ingestion_kind, may_load

UPLOAD_DIRECTORY = "imports"
STORED_NAME_BYTES = 120  # a file system takes 255 bytes per name; the upload's folder and a uuid come first


def import_job_create(*, kind: str, source_name: str, file_path: str, actor: User | None = None
                      ) -> ImportJob:
    """A queued job for a file already on disk (the command) or in storage (an upload)."""
    return ImportJob.objects.create(kind=kind, source_name=source_name[:255], file_path=file_path, created_by=actor)


def stored_upload_name(name: str, limit: int = STORED_NAME_BYTES) -> str:
    """The uploaded file's name made safe to store: no folders, only safe characters, at most ``limit`` bytes of
    UTF-8 with its extensions kept (``.csv.gz``). A 300-character name made the storage fail (ENAMETOOLONG)."""
    try:
        name = get_valid_filename(os.path.basename(name.replace("\\", "/")))
    except SuspiciousFileOperation:
        name = ""
    if not name or name.startswith("."):
        name = "upload" + name
    if len(name.encode()) <= limit:
        return name
    stem, dot, extensions = name.partition(".")
    extensions = (dot + extensions)[-20:]
    room = limit - len(extensions.encode())
    return stem.encode()[:room].decode(errors="ignore") + extensions


def import_job_upload(*, kind: str, uploaded_file, actor: User) -> ImportJob:
    """Store an uploaded file under imports/, create its job and start the job's task once committed."""
    registered = ingestion_kind(kind)
    if not may_load(actor, kind):
        raise NotPermitted(JOB_NOT_PERMITTED.format(user=actor, kind=registered.label,
                                                    permission=registered.permission))
    name = stored_upload_name(uploaded_file.name)
    stored = default_storage.save(f"{UPLOAD_DIRECTORY}/{uuid.uuid4().hex}-{name}", uploaded_file)
    with transaction.atomic():
        job = import_job_create(kind=kind, source_name=uploaded_file.name, file_path=stored, actor=actor)
        job.bytes_total = uploaded_file.size
        job.save(update_fields=["bytes_total"])
        # robust: a broker that is down must not turn a stored upload into an error page; the job stays queued
        # (visible in the admin) and the failure is logged.
        transaction.on_commit(lambda: registered.start(job.pk), robust=True)
    return job


def import_job_cancel(*, job_id: int, actor: User) -> ImportJob:
    """Stop a job. A queued job ends cancelled at once; a running one is asked to stop, and its worker stops at
    its next step (between two chunks of the file, or before the merge) with nothing written: the merge into
    the real table is one transaction that only starts once every row was read and checked (engine.load). A
    job whose merge has begun finishes; the request then changes nothing. The job's row lock orders this
    against the worker's own start and its check before the merge; a job whose merge holds that lock is not
    waited for (the request would hang for the whole merge): it is told it is being written."""
    try:
        return _cancel(job_id=job_id, actor=actor)
    except OperationalError as exc:  # the row is locked (NOWAIT): the merge, or the worker's start, holds it
        raise IngestionError(JOB_BEING_WRITTEN) from exc


@transaction.atomic
def _cancel(*, job_id: int, actor: User) -> ImportJob:
    job = ImportJob.objects.select_for_update(nowait=True).get(pk=job_id)
    if not may_load(actor, job.kind):
        registered = ingestion_kind(job.kind)
        raise NotPermitted(JOB_NOT_PERMITTED.format(user=actor, kind=registered.label,
                                                    permission=registered.permission))
    if job.is_final:
        raise IngestionError(JOB_ALREADY_FINISHED.format(state=job.get_status_display().lower()))
    now = timezone.now()
    job.cancel_requested_at, job.cancel_requested_by = now, actor
    fields = ["cancel_requested_at", "cancel_requested_by"]
    if job.status == ImportJob.Status.QUEUED:
        job.status, job.finished_at, job.message = ImportJob.Status.CANCELLED, now, JOB_CANCELLED_QUEUED.format(
            user=actor)
        fields += ["status", "finished_at", "message"]
    job.save(update_fields=fields)
    return job
