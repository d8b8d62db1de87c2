"""A Celery worker SIGKILLed in the middle of a month's computation, then a new worker: the month ends with
exactly the lines of an uninterrupted run (real processes, PostgreSQL, Redis; runs in CI)."""

import signal

import pytest
from django.conf import settings
from django.db import connection, transaction

from config.celery import app
from payouts.models import EarningLine, PayoutRun
from payouts.services.runs import payout_run_compute
from payouts.tasks import compute_month_task
from tests.partnerships.factories import DailyMetricFactory, EnrolmentFactory, PartnerFactory
from tests.payouts.factories import BEFORE, MONTH, paying_program
from tests.processes import Process, base_env, celery_worker, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs a broker: set CELERY_BROKER_URL (CI does)"),
]
# Redis hands an unacknowledged message to another worker only after this many seconds (6 h in production).
VISIBILITY_TIMEOUT = 5
LINE_FIELDS = ["basis_value", "gross_minor", "capped", "rounding_minor", "adjustments_minor", "carried_in_minor",
               "withholding_minor", "net_minor", "status", "hold_reason", "note"]


def lines(program) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in EarningLine.objects.filter(run__program=program)
            .values_list("partner__handle", *LINE_FIELDS)}


def twin_programs():
    """Two identical pooled programs with the same 40 members: one computed without interruption, one killed."""
    programs = [paying_program(month_budget=25_000_00, partner_cap_minor=2_000_00, withholding_rate="0.1")
                for _ in range(2)]
    for i in range(40):
        partner = PartnerFactory(handle=f"p{i:02}", tax_form_on_file=i % 7 != 0)
        DailyMetricFactory(partner=partner, day=MONTH.replace(day=12), views=(i * 7919) % 100_003 + 1000,
                           qualified_views=(i * 7919) % 100_003 + 1000)
        for program in programs:
            EnrolmentFactory(partner=partner, program=program, status="approved", approved_at=BEFORE)
    return programs


def waiting_on_ledger_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted "
                       "AND relation = 'payouts_ledgeraccount'::regclass")
        return bool(cursor.fetchone()[0])


def test_a_worker_killed_mid_computation_is_replaced_and_the_month_matches_an_uninterrupted_run(tmp_path):
    uninterrupted, killed = twin_programs()
    payout_run_compute(program_id=uninterrupted.pk, month=MONTH)
    expected = lines(uninterrupted)
    assert len(expected) == 40

    app.control.purge()
    env = base_env(DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="test", ALLOWED_HOSTS="localhost",
                   CELERY_BROKER_URL=settings.CELERY_BROKER_URL, CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT))
    # The solo pool runs the task in the worker process itself: SIGKILL stops the computation mid-transaction.
    first = Process("worker-1", celery_worker("killed", "--pool=solo"), env=env, logs=tmp_path)
    second = None
    try:
        first.wait_for_log(r"ready\.")
        with transaction.atomic():
            # Settlement reads the ledger accounts after the formula wrote the lines: holding this lock stops the
            # worker exactly there, with its lines written but not committed.
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE payouts_ledgeraccount IN ACCESS EXCLUSIVE MODE")
            previous = app.conf.broker_transport_options
            app.conf.broker_transport_options = {**previous, "visibility_timeout": VISIBILITY_TIMEOUT}
            try:
                compute_month_task.delay(killed.pk, MONTH.isoformat())
            finally:
                app.conf.broker_transport_options = previous
            wait_for(waiting_on_ledger_lock, timeout=60, what="the worker reaches settlement", processes=(first,))
            assert PayoutRun.objects.get(program=killed).status == PayoutRun.Status.COMPUTING
            assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        assert not EarningLine.objects.filter(run__program=killed).exists()  # its uncommitted lines died with it

        second = Process("worker-2", celery_worker("replacement", "--pool=solo"), env=env, logs=tmp_path)
        run = wait_for(lambda: PayoutRun.objects.filter(program=killed, status=PayoutRun.Status.COMPUTED).first(),
                       timeout=120, what="the message is redelivered to the new worker and computed",
                       processes=(second,))
    finally:
        first.stop(signal.SIGKILL)
        if second is not None:
            assert second.stop() == 0
    assert "payouts.compute_month" in second.log()
    assert PayoutRun.objects.filter(program=killed).count() == 1
    assert lines(killed) == expected
    assert EarningLine.objects.filter(run=run).count() == run.line_count == 40
