"""A month computed by a real Celery worker, through Redis (runs where CELERY_BROKER_URL is set: CI)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from payouts.models import EarningLine, PayoutRun
from payouts.tasks import compute_month_task
from tests.payouts.factories import MONTH, member, paying_program

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs a broker: set CELERY_BROKER_URL (CI does)"),
]


@pytest.fixture
def worker(db):
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
           "SECRET_KEY": "test", "DJANGO_SETTINGS_MODULE": "config.settings"}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_worker_computes_the_month(worker):
    assert compute_month_task.name == "payouts.compute_month"
    program = paying_program(partner_cap_minor=5_000_00)
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)

    compute_month_task.delay(program.pk, MONTH.isoformat())

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run = PayoutRun.objects.filter(program=program).first()
        if run is not None and run.status == PayoutRun.Status.COMPUTED:
            break
        assert worker.poll() is None, worker.stdout.read()
        time.sleep(0.5)
    else:
        pytest.fail("the worker did not compute the month within 90 s")
    assert dict(EarningLine.objects.values_list("partner__handle", "gross_minor")) == {
        "a": 5_000_00, "b": 3_750_00, "c": 1_250_00}
    assert run.started_by is None  # started by the system, so any finance approver may approve it
