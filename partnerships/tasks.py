"""Thin Celery tasks: ids in, one service call."""

import datetime as dt

from celery import shared_task

from core.tasks import RETRY
from partnerships.services.statistics import partner_statistics_refresh, partner_statistics_refresh_changed


@shared_task(name="partnerships.refresh_partner_statistics", **RETRY)
def refresh_partner_statistics_task(as_of: str | None = None, partner_ids: list[int] | None = None,
                                    changed: bool = False) -> int:
    """Everyone's statistics (nightly), the listed partners', or (``changed``, after a load) those of the partners
    the loads since the last refresh changed."""
    day = dt.date.fromisoformat(as_of) if as_of else None
    if changed:
        return partner_statistics_refresh_changed(as_of=day)
    return partner_statistics_refresh(as_of=day, partner_ids=partner_ids)


@shared_task(name="partnerships.expire_invitations", **RETRY)
def expire_invitations_task() -> int:
    from partnerships.marketplace.services import invitations_expire

    return invitations_expire()


@shared_task(name="partnerships.ingest_metrics", **RETRY)
def ingest_metrics_task(job_id: int) -> str:
    from partnerships.ingest_metrics import daily_metrics_ingest

    return daily_metrics_ingest(job_id=job_id).status


@shared_task(name="partnerships.metric_partitions_ensure", **RETRY)
def metric_partitions_ensure_task() -> list[str]:
    from partnerships.services.partitions import metric_partitions_ensure, partitioned

    if not partitioned():  # SQLite: one table, nothing to do
        return []
    return [f"{month:%Y-%m}" for month in metric_partitions_ensure().created]


@shared_task(name="partnerships.metric_partitions_retire", **RETRY)
def metric_partitions_retire_task() -> dict[str, list[str]]:
    from partnerships.services.partitions import metric_partitions_retire, partitioned

    if not partitioned():
        return {}
    outcome = metric_partitions_retire()
    return {"retired": [f"{month:%Y-%m}" for month, _, _ in outcome.retired],
            "refused": [why for _, why in outcome.refused]}
