"""Monthly sums of the daily metrics per partner, kept current by every writer of daily rows, so a month's payout
computation reads one row per partner instead of one per partner and day (issue 18).

The invariant: for every (partner, month) with at least one daily row, exactly one rollup row whose columns equal
the sums (views ... shares), the largest qualified_views (peak) and the number of daily rows (days) of that
partner's rows of that month; no rollup row for a (partner, month) without daily rows. The bulk merge keeps it by
adding the change of each load (partnerships.services.rollups); every ORM write of DailyMetric recomputes the
partner-months it touched (daily_metrics_written: DailyMetricQuerySet, DailyMetric.save/delete);
``manage.py rebuild_metric_rollups`` rebuilds and checks it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import models, transaction

from partnerships.services.rollups import metric_rollups_recompute, partner_days_of, partner_months_of, rollup_lock


@contextmanager
def rollup_keeping_write(keys: Iterable[tuple[int, Any]], *, writing: ContextVar[bool], lock: Callable[[], None],
                         prepare: Callable[[set[tuple[int, dt.date]]], Callable[[], object]],
                         ) -> Iterator[set[tuple[int, dt.date]]]:
    """An ORM write of daily rows that keeps their monthly rollups, inside a transaction and under ``lock`` (the
    loads' lock, taken before the daily rows: the order bulk loads take them in). ``keys``: the (id, day) keys it
    touches, read after the lock; the block adds the keys it wrote to the set it is given. ``prepare(touched)`` runs
    before the write and returns what to do after it. A write inside another of the same ``writing`` flag (Django's
    bulk_update calls update) is the outer one's: it would do that work twice."""
    if writing.get():
        yield set()
        return
    with transaction.atomic():
        lock()
        touched = partner_days_of(keys)
        finish = prepare(touched)
        token = writing.set(True)
        try:
            yield touched
        finally:
            writing.reset(token)
        finish()


_writing: ContextVar[bool] = ContextVar("daily_metrics_writing", default=False)


def daily_metrics_written(keys: Iterable[tuple[int, Any]]) -> AbstractContextManager[set[tuple[int, dt.date]]]:
    """An ORM write of daily metrics (rollup_keeping_write): after it, the rollups of the touched partner-months are
    recomputed and each touched day's change is stored for the statistics refresh after a load, as the bulk merge
    does (partnerships.services.statistics)."""
    from partnerships.services.statistics import daily_values, statistics_changes_record

    def prepare(touched: set[tuple[int, dt.date]]) -> Callable[[], object]:
        before = daily_values(touched)

        def finish() -> None:
            statistics_changes_record(before, daily_values(touched))
            metric_rollups_recompute(partner_months=partner_months_of(touched))
        return finish

    return rollup_keeping_write(keys, writing=_writing, lock=rollup_lock, prepare=prepare)


class RollupKeepingQuerySet(models.QuerySet[Any]):
    """Bulk writes of daily rows that keep their monthly rollups: each runs inside ``written`` (a context manager
    given the (id, day) keys the write touches, which it may add to; daily_metrics_written here,
    payouts.models.video_rollups.video_views_written for video views). ``key_fields``: the row's (id, day)."""

    key_fields: tuple[str, str] = ("partner_id", "day")

    @staticmethod
    def written(keys: Iterable[tuple[int, Any]]) -> Any:
        return daily_metrics_written(keys)

    def _keys(self) -> Any:
        return self.values_list(*self.key_fields)

    def _keys_of(self, objs: Iterable[Any]) -> list[tuple[int, Any]]:
        first, second = self.key_fields
        return [(getattr(o, first), getattr(o, second)) for o in objs]

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list:
        objs = list(objs)
        with self.written(self._keys_of(objs)):  # rows it may update on conflict
            return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        objs = list(objs)
        with self.written(self.filter(pk__in=[o.pk for o in objs])._keys()) as touched:
            count = super().bulk_update(objs, fields, *args, **kwargs)
            touched.update(partner_days_of(self._keys_of(objs)))
        return count

    def update(self, **kwargs: Any) -> int:
        with self.written(self._keys()) as touched:
            pks = list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            touched.update(partner_days_of(self.model._default_manager.filter(pk__in=pks)._keys()))
        return count

    update.alters_data = True  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        with self.written(self._keys()):
            return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]


class DailyMetricQuerySet(RollupKeepingQuerySet):
    """The ORM's bulk writes of daily metrics keep the monthly rollups and store their changes for the statistics
    refresh (daily_metrics_written), in the same transaction. Used by tests, fixtures and admin edits; the bulk merge
    maintains both incrementally instead."""


class MonthlyMetricRollup(models.Model):
    """One partner's daily metrics of one month, summed (see the module's invariant). Written only by
    partnerships.services.rollups. On PostgreSQL the table keeps half of each page free (fillfactor 50, set by its
    migration): a daily load updates every partner's row of the month, and with room on the page each update is
    heap-only, with no new index entries. On PostgreSQL the id has no index (migration 0028): every reader finds
    rows by (partner, month) or by month, and each rollup row the first day of a month inserts wrote it for none."""

    # Checked once per statement on PostgreSQL (migration 0025), as the daily metrics' partner; no index of its own:
    # the unique (partner, month) serves lookups by partner.
    partner = models.ForeignKey("partnerships.Partner", on_delete=models.CASCADE, related_name="metric_rollups",
                                db_constraint=False, db_index=False)
    month = models.DateField(help_text="First day of the month.")
    views = models.BigIntegerField(default=0)
    qualified_views = models.BigIntegerField(default=0)
    likes = models.BigIntegerField(default=0)
    comments = models.BigIntegerField(default=0)
    shares = models.BigIntegerField(default=0)
    peak_qualified_views = models.BigIntegerField(default=0, help_text="The month's largest daily qualified views.")
    days = models.IntegerField(default=0, help_text="Daily rows in the month.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "month"], name="metric_rollup_one_row_per_partner_month"),
        ]
        indexes = [models.Index(fields=["month"], name="metric_rollup_month")]

    def __str__(self) -> str:
        return f"{self.partner_id} in {self.month:%Y-%m}"


class StatisticsChange(models.Model):
    """What a bulk load changed in one partner's day, waiting for the statistics refresh after the load
    (partnerships.services.statistics.partner_statistics_refresh_changed): the new values minus the stored ones
    (views ... posts) and whether the row is new (``added``). Written by the merge, in its transaction; taken and
    deleted by the refresh. A plain partner id (no foreign key: a million rows per daily load, and on PostgreSQL no
    index at all, not even the id's: nothing reads a change by id, migration 0028); the refresh skips partners deleted
    meanwhile."""

    partner_id = models.BigIntegerField()
    day = models.DateField()
    views = models.BigIntegerField(default=0)
    qualified_views = models.BigIntegerField(default=0)
    likes = models.BigIntegerField(default=0)
    comments = models.BigIntegerField(default=0)
    shares = models.BigIntegerField(default=0)
    posts = models.BigIntegerField(default=0)
    added = models.IntegerField(default=0, help_text="1 when the load inserted the row, 0 when it changed it.")

    def __str__(self) -> str:
        return f"change of partner {self.partner_id} on {self.day:%Y-%m-%d}"
