"""manage.py ingest_ad_revenue FILE: load a CSV (optionally gzip-compressed) of ad revenue in this process.

Columns: handle, date, amount (major units, e.g. 12.34), currency. The admin's upload runs the same service on
a Celery worker. Refused rows are listed in the error report the command names; the exit status is 1 when the
whole file was refused."""

from ingestion.command import IngestCommand
from ingestion.models import ImportJob


class Command(IngestCommand):
    help = "Load a CSV file (optionally .gz) of ad revenue: one row per partner, day and currency."
    kind = ImportJob.Kind.AD_REVENUE
