"""The shape of every `manage.py ingest_*` command: create the job for a local file, run it in this process,
print its summary and the report's path, fail (exit status 1) when the file was refused as a whole. A command
names its kind; the registry (ingestion.registry) gives the columns and the service that runs the job."""

from __future__ import annotations

import os
from collections.abc import Callable

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from ingestion.jobs import import_job_create
from ingestion.models import ImportJob
from ingestion.registry import ingestion_kind
from ingestion.selectors import job_state


class IngestCommand(BaseCommand):
    kind: str

    def add_arguments(self, parser):
        columns = ", ".join(ingestion_kind(self.kind).columns)
        parser.add_argument("file", help=f"CSV (optionally gzip-compressed) with the columns {columns}")

    def handle(self, *args, **options):
        path = os.path.abspath(options["file"])
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}")
        job = import_job_create(kind=self.kind, source_name=os.path.basename(path), file_path=path)
        job = ingestion_kind(self.kind).run(job.pk)
        self.stdout.write(f"Import job {job.pk} ({job_state(job)}): {job.message}")
        if job.error_report_path:
            self.stdout.write(f"Error report: {report_location(job.error_report_path)}")
        if job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError(job.message)


def report_location(name: str, path: Callable[[str], str] = default_storage.path) -> str:
    try:
        return path(name)
    except NotImplementedError:  # a storage without local paths (object storage)
        return name
