"""How every Celery task of the project retries: the message is acknowledged only after the task ran (a killed
worker's task is run again), and a database that is briefly unreachable is retried with backoff. Tasks are thin
(ids in, one service call), and the services are idempotent, so running one again is safe."""

from django.db import OperationalError

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}
