"""Thin Celery tasks: ids in, one service call."""

import datetime as dt

from celery import shared_task

from core.tasks import RETRY
from partnerships.services.statistics import partner_statistics_refresh


@shared_task(name="partnerships.refresh_partner_statistics", **RETRY)
def refresh_partner_statistics_task(as_of: str | None = None, partner_ids: list[int] | None = None) -> int:
    return partner_statistics_refresh(
        as_of=dt.date.fromisoformat(as_of) if as_of else None, partner_ids=partner_ids
    )


@shared_task(name="partnerships.expire_invitations", **RETRY)
def expire_invitations_task() -> int:
    from partnerships.marketplace.services import invitations_expire

    return invitations_expire()


@shared_task(name="partnerships.ingest_metrics", **RETRY)
def ingest_metrics_task(job_id: int) -> str:
    from partnerships.ingest_metrics import daily_metrics_ingest

    return daily_metrics_ingest(job_id=job_id).status
