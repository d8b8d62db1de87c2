"""The shape of every `manage.py ingest_*` command: create the job for a local file, run it in this process,
print its summary and the report's path, fail (exit status 1) when the file was refused as a whole."""

from __future__ import annotations

import os
from collections.abc import Callable

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from partnerships.ingest.jobs import import_job_create
from partnerships.models import ImportJob


class IngestCommand(BaseCommand):
    kind: str
    columns: str

    def ingest(self, *, job_id: int) -> ImportJob:  # the service of the kind
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("file", help=f"CSV (optionally gzip-compressed) with the columns {self.columns}")

    def handle(self, *args, **options):
        path = os.path.abspath(options["file"])
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}")
        job = import_job_create(kind=self.kind, source_name=os.path.basename(path), file_path=path)
        job = self.ingest(job_id=job.pk)
        self.stdout.write(f"Import job {job.pk} ({job.get_status_display().lower()}): {job.message}")
        if job.error_report_path:
            self.stdout.write(f"Error report: {report_location(job.error_report_path)}")
        if job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError(job.message)


def report_location(name: str, path: Callable[[str], str] = default_storage.path) -> str:
    try:
        return path(name)
    except NotImplementedError:  # a storage without local paths (object storage)
        return name
