"""Daily metrics in spreadsheets, in bulk (rows.PartnerRowsResource); a confirmed import refreshes the statistics
of the partners it wrote."""

from __future__ import annotations

from django.db import transaction
from import_export.fields import Field
from import_export.widgets import DateWidget, IntegerWidget

from core.tasks import enqueue
from ingestion import guards
from ingestion.engine.merge import PARTNER_LIST_LIMIT
from ingestion.engine.spec import RowRejected
from partnerships.ingest_metrics import COUNTS, REFRESH_STATISTICS_TASK, metric_values, metric_values_quick
from partnerships.ingest_metrics import LOCK_NAME as METRICS_LOCK_NAME
from partnerships.models import DailyMetric
from partnerships.resources.rows import PartnerRowsResource
from partnerships.services.rollups import metric_rollups_recompute, partner_months_of


class DailyMetricResource(PartnerRowsResource):
    # Widgets for export only (typed cells); the import parses a row at once (parse_row).
    date = Field(attribute="day", column_name="date", widget=DateWidget("%Y-%m-%d"))
    views = Field(attribute="views", column_name="views", widget=IntegerWidget())
    qualified_views = Field(attribute="qualified_views", column_name="qualified_views", widget=IntegerWidget())
    likes = Field(attribute="likes", column_name="likes", widget=IntegerWidget())
    comments = Field(attribute="comments", column_name="comments", widget=IntegerWidget())
    shares = Field(attribute="shares", column_name="shares", widget=IntegerWidget())
    followers = Field(attribute="followers", column_name="followers", widget=IntegerWidget())
    posts = Field(attribute="posts", column_name="posts", widget=IntegerWidget())

    value_fields = COUNTS
    db_types = {"partner_id": "bigint", "day": "date", **dict.fromkeys(COUNTS, "bigint")}
    lock_name = METRICS_LOCK_NAME
    period_input = guards.DAILY_METRICS
    required_columns = ("handle", "date", *COUNTS)
    bulk_hint = "Import jobs → “Upload metrics file…”, or manage.py ingest_metrics FILE"

    class Meta:
        model = DailyMetric
        fields = ("handle", "date", *COUNTS)
        export_order = fields

    def parse_row(self, row):
        values = [row.get(column) for column in self.required_columns]
        clean = metric_values_quick(values, self.latest)
        if clean is None:
            clean, problems = metric_values(values, self.latest)
            if problems:
                raise RowRejected(problems)
        return clean

    def after_upsert(self, rows):
        # A spreadsheet holds at most a few thousand rows: its partner-months are recomputed from the daily rows.
        metric_rollups_recompute(partner_months=partner_months_of((row[0], row[1]) for row in rows))

    def after_write(self, partner_ids):
        ids = sorted(partner_ids) if len(partner_ids) <= PARTNER_LIST_LIMIT else None
        transaction.on_commit(lambda: enqueue(REFRESH_STATISTICS_TASK, partner_ids=ids))
