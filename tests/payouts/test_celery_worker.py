"""A month computed by a real Celery worker, through Redis (runs where CELERY_BROKER_URL is set: CI).

The worker logs to a file (a pipe nobody reads fills at 64 KB and blocks the worker mid-task) and consumes a queue
of its own, so messages other tests or earlier runs left on the shared broker database cannot delay or steal the
test's task."""

import os

import pytest
from django.conf import settings

from payouts.models import EarningLine, PayoutRun
from payouts.tasks import compute_month_task
from tests.payouts.factories import MONTH, member, paying_program
from tests.processes import Process, base_env, celery_worker, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs a broker: set CELERY_BROKER_URL (CI does)"),
]

QUEUE = f"test-compute-{os.getpid()}"


@pytest.fixture
def worker(db, tmp_path):
    env = base_env(SECRET_KEY="test", DJANGO_SETTINGS_MODULE="config.settings",
                   CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    process = Process("worker", celery_worker("test", "--pool=solo", "--without-heartbeat", "-Q", QUEUE),
                      env=env, logs=tmp_path)
    process.wait_for_log(r"ready\.")
    yield process
    assert process.stop() == 0, process.log()[-3000:]


def test_a_worker_computes_the_month(worker):
    assert compute_month_task.name == "payouts.compute_month"
    program = paying_program(partner_cap_minor=5_000_00)
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)

    compute_month_task.apply_async((program.pk, MONTH.isoformat()), queue=QUEUE)

    run = wait_for(lambda: PayoutRun.objects.filter(program=program, status=PayoutRun.Status.COMPUTED).first(),
                   timeout=90, what="the worker computes the month", processes=(worker,))
    assert dict(EarningLine.objects.values_list("partner__handle", "gross_minor")) == {
        "a": 5_000_00, "b": 3_750_00, "c": 1_250_00}
    assert run.started_by is None  # started by the system, so any finance approver may approve it
