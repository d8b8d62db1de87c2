"""A large batch released by a real Celery worker through Redis (runs where CELERY_BROKER_URL is set: CI). The worker
consumes a queue of its own (see tests/payouts/test_celery_worker.py for why) and has the test's keys, so it reads
the same encrypted bank details."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from payouts.models import PaymentBatch, PaymentBatchRelease
from payouts.services.batch_jobs import batch_release_request
from payouts.services.batches import batch_create
from payouts.tasks import release_batch_task
from tests.payouts.batches.helpers import approved_program_run, assert_ledger_balanced, payee
from tests.processes import Process, base_env, celery_worker, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs a broker: set CELERY_BROKER_URL (CI does)"),
]

QUEUE = f"test-release-{os.getpid()}"


def test_a_worker_releases_the_batch_an_approver_asked_for(run_approver, maker, checker, tmp_path, monkeypatch):
    partners: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=partners)
    for partner in partners.values():
        payee(partner)
    batch = batch_create(currency="USD", rail="ach", actor=maker)
    # The request's own message would go to the shared compute queue; the test sends it to the worker's queue.
    monkeypatch.setattr("payouts.services.batch_jobs.enqueue", lambda *args: None)
    with transaction.atomic():
        batch_release_request(batch_id=batch.pk, actor=checker, expected_count=2,
                              expected_total_minor=batch.control_total_minor)
    env = base_env(SECRET_KEY=settings.SECRET_KEY, PAYEE_DATA_KEY=",".join(settings.SALT_KEY),
                   DJANGO_SETTINGS_MODULE="config.settings", CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   MEDIA_ROOT=settings.MEDIA_ROOT, PAYMENT_ORIGINATOR_NAME=settings.PAYMENT_ORIGINATOR_NAME,
                   PAYMENT_ORIGINATOR_ACH_ROUTING=settings.PAYMENT_ORIGINATOR_ACH_ROUTING,
                   PAYMENT_ORIGINATOR_ACH_ACCOUNT=settings.PAYMENT_ORIGINATOR_ACH_ACCOUNT,
                   PAYMENT_ORIGINATOR_ACH_COMPANY_ID=settings.PAYMENT_ORIGINATOR_ACH_COMPANY_ID,
                   EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    worker = Process("worker", celery_worker("release", "--pool=solo", "--without-heartbeat", "-Q", QUEUE),
                     env=env, logs=tmp_path)
    try:
        worker.wait_for_log(r"ready\.")
        release_batch_task.apply_async((batch.pk,), queue=QUEUE)
        request = wait_for(lambda: PaymentBatchRelease.objects.exclude(state="queued").filter(batch=batch).first(),
                           timeout=90, what="the worker releases the batch", processes=(worker,))
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]

    assert (request.state, request.error) == ("done", "")
    batch.refresh_from_db()
    assert (batch.status, batch.released_by) == (PaymentBatch.Status.RELEASED, checker)
    written = batch.files.get()
    assert (Path(settings.MEDIA_ROOT) / written.path).read_text().startswith("101")  # a NACHA file header
    assert_ledger_balanced()
