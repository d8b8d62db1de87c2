"""How every Celery task of the project retries: the message is acknowledged only after the task ran (a killed
worker's task is run again), and a database that is briefly unreachable is retried with backoff. Tasks are thin
(ids in, one service call), and the services are idempotent, so running one again is safe."""

from django.db import OperationalError

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


def enqueue(name: str, *args: object, **kwargs: object) -> object:
    """Queue the task registered under ``name`` (e.g. "payouts.compute_month") with these arguments.

    Services queue tasks by name: the tasks modules import the services (a task is one service call), so the
    services never import them back."""
    from celery import current_app  # the project's app (config.celery)

    if name not in current_app.tasks:
        # A web process has not imported the apps' tasks modules (a worker does at start): autodiscover them now.
        current_app.loader.import_default_modules()
    return current_app.tasks[name].delay(*args, **kwargs)
