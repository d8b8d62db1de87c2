"""Money in spreadsheets: ad revenue (import and export), earning lines and statements (export).

Amounts are in major units beside their currency (12.34, USD), exact Decimals that stay numbers in XLSX;
partners by handle, programs by slug, months as YYYY-MM."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from import_export.fields import Field
from import_export.widgets import DateWidget

from core.money import to_major
from core.spreadsheets import SpreadsheetResource, cell_value
from ingestion import guards
from partnerships.models import Enrolment, Program
from partnerships.resources.rows import LOOKUP_CHUNK, PartnerRowsResource
from payouts.exceptions import CURRENCY_NOT_PROGRAM, NOT_REVENUE_SHARE_MEMBER
from payouts.explain import explain_line
from payouts.ingest import LOCK_NAME as AD_REVENUE_LOCK_NAME
from payouts.ingest import parse_revenue
from payouts.models import AdRevenue, EarningLine
from payouts.selectors import STATEMENT_HEADER, statement_row


def _chunks(values):
    values = list(values)
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start:start + LOOKUP_CHUNK]


class AdRevenueResource(PartnerRowsResource):
    """The same rules as bulk ingestion (payouts.ingest): the currency must be one the partner's revenue-share
    program pays in, and a month closed for that program is never edited (PartnerRowsResource asks the period
    guard of payouts.closed_months, as bulk ingestion does)."""

    date = Field(attribute="day", column_name="date", widget=DateWidget("%Y-%m-%d"))
    amount = Field(column_name="amount")
    currency = Field(attribute="currency", column_name="currency")

    key_columns = ("handle", "date", "currency")
    key_fields = ("partner_id", "day", "currency")
    value_fields = ("amount_minor",)
    value_columns = ("amount",)
    db_types = {"partner_id": "bigint", "day": "date", "currency": "text", "amount_minor": "bigint"}
    lock_name = AD_REVENUE_LOCK_NAME
    period_input = guards.AD_REVENUE
    required_columns = ("handle", "date", "amount", "currency")
    bulk_hint = "Import jobs → “Upload ad revenue file…”, or manage.py ingest_ad_revenue FILE"

    class Meta:
        model = AdRevenue
        fields = ("handle", "date", "amount", "currency")
        export_order = fields

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.currencies: dict[int, set[str]] = defaultdict(set)

    def dehydrate_amount(self, revenue: AdRevenue):
        return to_major(revenue.amount_minor, revenue.currency)

    def parse_row(self, row):
        handle, day, amount, currency = parse_revenue(
            [row.get(column) for column in ("handle", "date", "amount", "currency")], self.latest)
        return handle, dt.date.fromisoformat(day), currency, int(amount)

    def display_values(self, key, values):
        return [str(to_major(values[0], key[2]))]

    def load_existing(self, partner_ids, days):
        existing = super().load_existing(partner_ids, days)
        for chunk in _chunks(partner_ids):
            memberships = Enrolment.objects.filter(
                partner_id__in=chunk, status=Enrolment.Status.APPROVED,
                program__archetype=Program.Archetype.REVENUE_SHARE,
            ).values_list("partner_id", "program__currency")
            for partner, currency in memberships:
                self.currencies[partner].add(currency)
        return existing

    def row_errors(self, key, values):
        partner_id, day, currency = key
        paid_in = self.currencies.get(partner_id)
        if not paid_in:
            return {"currency": [NOT_REVENUE_SHARE_MEMBER]}
        if currency not in paid_in:
            return {"currency": [CURRENCY_NOT_PROGRAM.format(currency=currency, expected=", ".join(sorted(paid_in)))]}
        return {}


class EarningLineResource(SpreadsheetResource):
    program = Field(attribute="run__program__slug", column_name="program")
    month = Field(column_name="month")
    kind = Field(attribute="run__kind", column_name="kind")
    partner = Field(attribute="partner__handle", column_name="partner")
    gross = Field(column_name="gross")
    adjustments = Field(column_name="adjustments")
    carried_in = Field(column_name="carried_in")
    withholding = Field(column_name="withholding")
    net = Field(column_name="net")
    currency = Field(attribute="run__currency", column_name="currency")

    class Meta:
        model = EarningLine
        name = "Earning lines"
        fields = ("program", "month", "kind", "partner", "status", "basis", "basis_value", "gross", "adjustments",
                  "carried_in", "withholding", "net", "currency", "hold_reason", "note")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("partner", "run", "run__program")

    def dehydrate_month(self, line: EarningLine):
        return line.run.month.strftime("%Y-%m")

    def _major(self, line: EarningLine, name: str):
        return to_major(getattr(line, f"{name}_minor"), line.run.currency)

    def dehydrate_gross(self, line):
        return self._major(line, "gross")

    def dehydrate_adjustments(self, line):
        return self._major(line, "adjustments")

    def dehydrate_carried_in(self, line):
        return self._major(line, "carried_in")

    def dehydrate_withholding(self, line):
        return self._major(line, "withholding")

    def dehydrate_net(self, line):
        return self._major(line, "net")


class StatementResource(SpreadsheetResource):
    """Partners' statements: the same rows as the statement CSV (payouts.selectors.statement_row), with the
    explanation of how each line was reached."""

    partner = Field(column_name="partner")
    display_name = Field(column_name="display_name")
    program = Field(column_name="program")
    month = Field(column_name="month")
    status = Field(column_name="status")
    basis = Field(column_name="basis")
    basis_value = Field(column_name="basis_value")
    gross = Field(column_name="gross")
    adjustments = Field(column_name="adjustments")
    carried_in = Field(column_name="carried_in")
    withholding = Field(column_name="withholding")
    net = Field(column_name="net")
    currency = Field(column_name="currency")
    hold_reason = Field(column_name="hold_reason")
    explanation = Field(column_name="explanation")

    class Meta:
        model = EarningLine
        name = "Statements (with explanations)"
        fields = tuple(STATEMENT_HEADER)
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("partner", "run", "run__program", "run__program__terms")

    def export_resource(self, instance, selected_fields=None, **kwargs):
        row = dict(zip(STATEMENT_HEADER, statement_row(instance.run, instance, explain_line(instance, instance.run)),
                       strict=True))
        native = bool(kwargs.get("force_native_type"))
        return [cell_value(row[field.column_name], native=native) for field in self.get_export_fields(selected_fields)]
