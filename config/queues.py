"""Celery's queues: which task waits in which line, so one kind of work never queues behind another.

- ``compute``: payout months, month-to-date estimates, large payment batches (minutes of database work
  each at scale).
- ``ingestion``: bulk loads of daily metrics and ad revenue, the statistics refresh after them, and the daily
  metrics' partitions (the writers of the big tables).
- ``email``: every message to creators and brands (seconds each, and people wait for them: a claim link, a
  security notice).
- ``celery`` (the default): housekeeping (re-queueing stalled runs, expiring invitations) and anything unnamed.

A worker started without ``-Q`` consumes every queue below (Celery's rule when ``task_queues`` is set), so one
worker process still runs everything, as in the Procfile and the demo. At scale each queue gets workers of its own
(``CELERY_WORKER_QUEUES=compute`` and so on, see the scale plan in the README): a payout month then never delays a
claim link, and a day's load never waits for a month's computation.
"""

from __future__ import annotations

from kombu import Queue

DEFAULT_QUEUE = "celery"
COMPUTE, INGESTION, EMAIL = "compute", "ingestion", "email"
QUEUES = (Queue(DEFAULT_QUEUE), Queue(COMPUTE), Queue(INGESTION), Queue(EMAIL))

# Task name (or glob) -> queue. Names are the tasks' explicit names (``@shared_task(name=...)``).
ROUTES = {
    "payouts.compute_month": {"queue": COMPUTE},
    "payouts.compute_previous_month": {"queue": COMPUTE},
    "payouts.estimate_month_to_date": {"queue": COMPUTE},
    "payouts.create_batch": {"queue": COMPUTE},
    "payouts.release_batch": {"queue": COMPUTE},
    "partnerships.ingest_metrics": {"queue": INGESTION},
    "payouts.ingest_ad_revenue": {"queue": INGESTION},
    "partnerships.refresh_partner_statistics": {"queue": INGESTION},
    "partnerships.metric_partitions_*": {"queue": INGESTION},
    "creators.*": {"queue": EMAIL},
}
