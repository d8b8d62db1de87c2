"""Reads that may go to a read replica: the brand search (the platform's busiest reads, statistics refreshed once
after each load) is served from ``DATABASES["replica"]`` when one is configured (``DATABASE_REPLICA_URL``), so
brands searching never compete with the loads, the payout months and the admin on the primary.

Only code inside ``replica_reads()`` reads from the replica; everything else — sign-in and tokens (revocation
must be exact), permissions, every write and every read that a write depends on — stays on the primary. A replica
lags its primary by a moment: a search may miss a partner's last change for that long, never a token's revocation
or another brand's data (tenant checks read the primary). Without a replica every read goes to ``default``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, models

REPLICA = "replica"
_replica_reads: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES and bool(getattr(settings, "SEARCH_READ_REPLICA", True))


def read_alias() -> str:
    """The database alias reads go to here: the replica inside ``replica_reads()`` when one is configured."""
    return REPLICA if _replica_reads.get() and replica_configured() else DEFAULT_DB_ALIAS


@contextlib.contextmanager
def replica_reads() -> Iterator[str]:
    """Within the block, ORM reads go to the replica (when configured); yields the alias raw SQL should use."""
    token = _replica_reads.set(True)
    try:
        yield read_alias()
    finally:
        _replica_reads.reset(token)


class ReplicaRouter:
    """Django database router (settings.DATABASE_ROUTERS): reads in ``replica_reads()`` go to the replica; writes,
    relations and migrations belong to the primary (the replica copies its schema by replication)."""

    def db_for_read(self, model: type[models.Model], **hints: Any) -> str | None:
        return REPLICA if read_alias() == REPLICA else None

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool:
        return True  # the replica holds the primary's rows: objects read from either relate

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
