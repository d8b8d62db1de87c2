"""manage.py ingest_metrics FILE: load a CSV (optionally gzip-compressed) of daily metrics in this process.

The admin's upload runs the same service on a Celery worker. Refused rows are listed in the error report the
command names; the exit status is 1 when the whole file was refused."""

from partnerships.ingest.command import IngestCommand
from partnerships.ingest.metrics import COLUMNS, daily_metrics_ingest
from partnerships.models import ImportJob


class Command(IngestCommand):
    help = "Load a CSV file (optionally .gz) of daily metrics: one row per partner and day, loaded or replaced."
    kind = ImportJob.Kind.METRICS
    columns = ", ".join(column.name for column in COLUMNS)

    def ingest(self, *, job_id: int) -> ImportJob:
        return daily_metrics_ingest(job_id=job_id)
