"""Celery's queues (config/queues.py): compute, ingestion and e-mail wait in lines of their own, and a worker
without -Q still runs everything."""

import fnmatch
import json
import time

import pytest
import redis
from celery import current_app
from django.conf import settings

from config import queues
from creators.tasks import send_email_task
from payouts.tasks import compute_month_task
from tests.processes import Process, base_env, celery_worker

DECLARED = {queue.name for queue in queues.QUEUES}


@pytest.fixture(autouse=True)
def every_task_loaded():
    """The tasks of every app, as a worker loads them at start (autodiscovery is lazy in a test process)."""
    current_app.loader.import_default_modules()


def queue_of(task_name: str) -> str:
    return current_app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(("task", "queue"), [
    ("payouts.compute_month", "compute"),
    ("payouts.compute_previous_month", "compute"),
    ("payouts.estimate_month_to_date", "compute"),
    ("partnerships.ingest_metrics", "ingestion"),
    ("payouts.ingest_ad_revenue", "ingestion"),
    ("partnerships.refresh_partner_statistics", "ingestion"),
    ("partnerships.metric_partitions_ensure", "ingestion"),
    ("partnerships.metric_partitions_retire", "ingestion"),
    ("creators.send_email", "email"),
    ("creators.send_claim_link", "email"),
    ("creators.notify_invitation_deadlines", "email"),
    ("payouts.requeue_stalled_runs", "celery"),
    ("partnerships.expire_invitations", "celery"),
])
def test_each_kind_of_work_has_its_queue(task, queue):
    assert task in current_app.tasks
    assert queue_of(task) == queue


def test_every_project_task_goes_to_a_declared_queue_and_every_route_names_a_task():
    ours = [name for name in current_app.tasks if not name.startswith("celery.")]
    assert len(ours) >= 20
    assert {queue_of(name) for name in ours} <= DECLARED
    # A route whose name matches no task (a typo, a renamed task) would silently send that work to the default line.
    for pattern, route in queues.ROUTES.items():
        assert route["queue"] in DECLARED, pattern
        assert fnmatch.filter(ours, pattern), f"the route {pattern!r} matches no task"


def test_a_worker_without_queues_named_consumes_every_queue():
    # What a worker started without -Q consumes: the configured queues (not ones created on the fly by a test).
    assert {queue.name for queue in current_app.conf.task_queues} == DECLARED == {"celery", "compute", "ingestion",
                                                                                  "email"}
    assert current_app.conf.task_default_queue == "celery"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs a broker: set CELERY_BROKER_URL (CI does)")
def test_an_email_worker_sends_while_a_payout_month_waits_for_a_compute_worker(tmp_path):
    """A worker of the e-mail queue runs a message at once; the month sent beside it stays in the compute line, for
    a compute worker (it is taken back out at the end, so no later test's worker computes it)."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    env = base_env(SECRET_KEY="test", DJANGO_SETTINGS_MODULE="config.settings",
                   CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    worker = Process("email-worker", celery_worker("email", "--pool=solo", "--without-heartbeat", "-Q", "email"),
                     env=env, logs=tmp_path)
    month = compute_month_task.apply_async((987_654_321, "2026-08-01"))
    try:
        worker.wait_for_log(r"ready\.")
        mail = send_email_task.apply_async(("ana@example.org", "Queues", "Sent by the e-mail worker."))
        worker.wait_for_log(rf"Task creators\.send_email\[{mail.id}\] succeeded", timeout=60)
        time.sleep(1)  # the worker had time to take anything else it consumes
        waiting = [json.loads(message) for message in broker.lrange("compute", 0, -1)]
        assert month.id in [message["headers"]["id"] for message in waiting]
        assert month.id not in worker.log()
    finally:
        for message in broker.lrange("compute", 0, -1):
            if month.id in message.decode():
                broker.lrem("compute", 1, message)
        assert worker.stop() == 0, worker.log()[-3000:]
