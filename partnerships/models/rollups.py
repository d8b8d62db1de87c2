"""Monthly sums of the daily metrics per partner, kept current by every writer of daily rows, so a month's payout
computation reads one row per partner instead of one per partner and day (issue 18).

The invariant: for every (partner, month) with at least one daily row, exactly one rollup row whose columns equal
the sums (views ... shares), the largest qualified_views (peak) and the number of daily rows (days) of that
partner's rows of that month; no rollup row for a (partner, month) without daily rows. The bulk merge keeps it by
adding the change of each load (partnerships.services.rollups); every ORM write of DailyMetric recomputes the
partner-months it touched (DailyMetricQuerySet, DailyMetric.save/delete); ``manage.py rebuild_metric_rollups``
rebuilds and checks it."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from partnerships.services.rollups import metric_rollups_recompute, partner_months_of, rollup_lock


class DailyMetricQuerySet(models.QuerySet[Any]):
    """The ORM's bulk writes of daily metrics keep the monthly rollups: each recomputes the partner-months it
    touched from the daily rows (set-based), in the same transaction. Used by tests, fixtures and admin edits;
    the bulk merge maintains the rollups incrementally instead."""

    def _touched(self) -> set:
        return partner_months_of(self.values_list("partner_id", "day"))

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list:
        with transaction.atomic():
            rollup_lock()  # before the daily rows: the order bulk loads take them in
            created = super().bulk_create(objs, *args, **kwargs)
            metric_rollups_recompute(partner_months=partner_months_of((o.partner_id, o.day) for o in created))
        return created

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        objs = list(objs)
        with transaction.atomic():
            rollup_lock()  # before the daily rows: the order bulk loads take them in
            before = partner_months_of(self.filter(pk__in=[o.pk for o in objs]).values_list("partner_id", "day"))
            count = super().bulk_update(objs, fields, *args, **kwargs)
            metric_rollups_recompute(partner_months=before | partner_months_of((o.partner_id, o.day) for o in objs))
        return count

    def update(self, **kwargs: Any) -> int:
        with transaction.atomic():
            rollup_lock()  # before the daily rows: the order bulk loads take them in
            before = self._touched()
            pks = list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            after = partner_months_of(self.model._default_manager.filter(pk__in=pks).values_list("partner_id", "day"))
            metric_rollups_recompute(partner_months=before | after)
        return count

    update.alters_data = True  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic():
            rollup_lock()  # before the daily rows: the order bulk loads take them in
            before = self._touched()
            result = super().delete()
            metric_rollups_recompute(partner_months=before)
        return result

    delete.alters_data = True  # type: ignore[attr-defined]


class MonthlyMetricRollup(models.Model):
    """One partner's daily metrics of one month, summed (see the module's invariant). Written only by
    partnerships.services.rollups. On PostgreSQL the table keeps half of each page free (fillfactor 50, set by its
    migration): a daily load updates every partner's row of the month, and with room on the page each update is
    heap-only, with no new index entries."""

    partner = models.ForeignKey("partnerships.Partner", on_delete=models.CASCADE, related_name="metric_rollups")
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
    deleted by the refresh. A plain partner id (no foreign key: a million rows per daily load, no index but the
    key); the refresh skips partners deleted meanwhile."""

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
