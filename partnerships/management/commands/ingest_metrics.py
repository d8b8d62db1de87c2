"""manage.py ingest_metrics FILE: load a CSV (optionally gzip-compressed) of daily metrics in this process.

The admin's upload runs the same service on a Celery worker. Refused rows are listed in the error report the
command names; the exit status is 1 when the whole file was refused."""

from ingestion.command import IngestCommand
from ingestion.models import ImportJob


class Command(IngestCommand):
    help = "Load a CSV file (optionally .gz) of daily metrics: one row per partner and day, loaded or replaced."
    kind = ImportJob.Kind.METRICS
