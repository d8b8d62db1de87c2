"""Thin Celery tasks: ids in, one service call. Idempotency lives in the services."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

from core.tasks import RETRY
from partnerships.models import Program
from payouts.exceptions import RunRefused
from payouts.formulas.archetypes import FORMULAS
from payouts.models import PayoutRun
from payouts.months import previous_month, program_today
from payouts.services.batch_jobs import batch_create_run, batch_release_run
from payouts.services.runs import payout_run_compute, payout_runs_requeue_stalled

logger = logging.getLogger(__name__)


def paying_programs():
    return Program.objects.filter(archetype__in=list(FORMULAS), fund__isnull=False, terms__isnull=False)


@shared_task(name="payouts.compute_month", **RETRY)
def compute_month_task(program_id: int, month: str, kind: str = PayoutRun.Kind.FINAL) -> str:
    run = payout_run_compute(program_id=program_id, month=dt.date.fromisoformat(month), kind=kind)
    return run.status


@shared_task(name="payouts.compute_previous_month", **RETRY)
def compute_previous_month_task() -> int:
    """Beat, on the 1st: enqueue one task per paying program for the month that ended in its time zone."""
    programs = list(paying_programs())
    for program in programs:
        compute_month_task.delay(program.pk, previous_month(program).isoformat())
    return len(programs)


@shared_task(name="payouts.estimate_month_to_date", **RETRY)
def estimate_month_to_date_task() -> int:
    count = 0
    for program in paying_programs():
        try:
            payout_run_compute(program_id=program.pk, month=program_today(program).replace(day=1),
                               kind=PayoutRun.Kind.ESTIMATE)
            count += 1
        except RunRefused as exc:  # e.g. no tranche for this month yet: nothing to estimate
            logger.info("No estimate for %s: %s", program, exc)
    return count


@shared_task(name="payouts.requeue_stalled_runs", **RETRY)
def requeue_stalled_runs_task(older_than_seconds: int | None = None) -> list[int]:
    """Beat, every 10 minutes: runs left computing by a broker outage or a dead worker go back to a worker."""
    if older_than_seconds is None:
        return payout_runs_requeue_stalled()
    return payout_runs_requeue_stalled(older_than=dt.timedelta(seconds=older_than_seconds))


@shared_task(name="payouts.ingest_ad_revenue", **RETRY)
def ingest_ad_revenue_task(job_id: int) -> str:
    from payouts.ingest import ad_revenue_ingest

    return ad_revenue_ingest(job_id=job_id).status


@shared_task(name="payouts.release_batch", **RETRY)
def release_batch_task(batch_id: int) -> str:
    """A large payment batch's release, asked for in the admin (payouts.services.batch_jobs)."""
    return batch_release_run(batch_id=batch_id)


@shared_task(name="payouts.create_batch", **RETRY)
def create_batch_task(creation_id: int) -> str:
    """A large payment batch's creation, asked for in the admin (payouts.services.batch_jobs)."""
    return batch_create_run(creation_id=creation_id)
