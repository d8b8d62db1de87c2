"""Rows keyed by partner and day (daily metrics, and payouts' ad revenue), imported in bulk.

Every lookup is done once for the whole file, so a preview of 50,000 rows takes seconds, not the hours of the
default resource. A row of a month closed for payouts is refused like in bulk ingestion, and a confirmed import
tells the period guards what it changed (ingestion.guards).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.base import ModelState
from django.utils import timezone
from import_export.fields import Field
from import_export.results import RowResult

from core.files import FILE_MISSING_COLUMNS
from core.importpreview import spreadsheet_line
from core.spreadsheets import SpreadsheetResource
from ingestion import fields as parsers
from ingestion import guards
from ingestion.engine.merge import lock_merges, upsert_rows
from ingestion.engine.spec import RowRejected
from ingestion.exceptions import DUPLICATE_LINE, UNKNOWN_PARTNER
from ingestion.fields import display
from partnerships.models import Partner

LOOKUP_CHUNK = 2_000  # keys per IN (...) of the prefetch queries


def _chunks(values, size=LOOKUP_CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


class PartnerRowsResource(SpreadsheetResource):
    """Rows of a table whose natural key starts with the partner (given by handle) and a day, imported in bulk.

    For the whole file at once: the partners of its handles and the rows it would replace (one query per
    2,000 keys), and a lock shared with bulk ingestion of the same table. Per row: one call to the parser
    bulk ingestion uses (the same reasons, every problem of the row), a duplicate check, and a comparison with
    the stored values (an identical row is "unchanged" and not rewritten). Rows are written 1,000 at a time by
    one INSERT ... ON CONFLICT DO UPDATE (engine.upsert_rows), in key order. The model instances
    django-import-export needs per row are light copies of one template: they carry values to the preview and
    are never saved through the ORM."""

    handle = Field(attribute="partner__handle", column_name="handle")

    key_columns: tuple[str, ...] = ("handle", "date")  # in the file
    key_fields: tuple[str, ...] = ("partner_id", "day")  # on the model, in the same order
    value_fields: tuple[str, ...] = ()  # the model's fields an import sets (and compares with the stored row)
    value_columns: tuple[str, ...] = ()  # their columns in the file, when named otherwise
    db_types: dict[str, str] = {}  # PostgreSQL type of each key and value column, for the bulk write
    lock_name = ""
    period_input = ""  # the input period guards watch (ingestion.guards), if any

    class Meta:
        use_bulk = True
        batch_size = 1000
        skip_diff = True  # the preview shows each row's values and what changes, computed cheaply below
        report_skipped = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.partners: dict[str, int] = {}
        self.partner_rows: dict[int, Partner] = {}
        self.existing: dict[tuple, tuple] = {}
        self.first_row: dict[tuple, int] = {}
        self.pending: list[tuple] = []
        self.written_partner_ids: set[int] = set()
        self.written_partner_months: set[tuple[int, object]] = set()
        self.closed = guards.ClosedPeriods()
        self.current: tuple | None = None
        self.lines: list[int] | None = None  # each data row's spreadsheet line, as the format read them
        self.current_values: tuple | None = None
        self.latest = parsers.latest_day()
        self._template = self._meta.model()

    # --- subclass hooks ----------------------------------------------------------------------------
    def parse_row(self, row: dict) -> tuple:
        """(handle, the other key values, the values) typed, or RowRejected naming every problem."""
        raise NotImplementedError

    def load_existing(self, partner_ids: list[int], days: set) -> dict[tuple, tuple]:
        """The stored rows the file's keys would replace: key -> values."""
        size, names = len(self.key_fields), self.key_fields + self.value_fields
        if connection.vendor == "postgresql":  # one query with two array parameters, whatever the file's size
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {', '.join(names)} FROM {self._meta.model._meta.db_table} "
                               f"WHERE partner_id = ANY(%s::bigint[]) AND day = ANY(%s::date[])",
                               [partner_ids, sorted(days)])
                rows = cursor.fetchall()
        else:
            rows = []
            for chunk in _chunks(partner_ids):
                rows += self._meta.model.objects.filter(partner_id__in=chunk, day__in=days).values_list(*names)
        return {tuple(row[:size]): tuple(row[size:]) for row in rows}

    def row_errors(self, key: tuple, values: tuple) -> dict[str, list[str]]:
        """Checks against the database's state, read in before_import (ad revenue's currency and months)."""
        return {}

    def display_values(self, key: tuple, values: tuple) -> list[str]:
        return [str(value) for value in values]

    def closed_month_errors(self, key: tuple) -> dict[str, list[str]]:
        """A row of a month a payout run has closed for the partner (in the row's currency, if it has one)."""
        if not self.closed:
            return {}
        named = dict(zip(self.key_fields, key, strict=True))
        reason = self.closed.reason(named["partner_id"], named["day"], named.get("currency"))
        return {"date": [reason]} if reason else {}

    def after_write(self, partner_ids: set[int]) -> None:
        pass

    def after_upsert(self, rows: list[tuple]) -> None:
        """In the write's transaction, after a batch of rows (key values, then value fields) was written."""

    # --- once per file -----------------------------------------------------------------------------
    def before_import(self, dataset, **kwargs):
        self.lines = getattr(dataset, "spreadsheet_lines", None)
        headers = [str(header).strip().lower() for header in dataset.headers or []]
        if headers != list(dataset.headers or []):
            dataset.headers = headers
        missing = [column for column in self.required_columns if column not in headers]
        if missing:
            raise ValueError(FILE_MISSING_COLUMNS.format(missing=", ".join(missing),
                                                         expected=", ".join(self.required_columns)))
        lock_merges(self.lock_name)  # inside the import's transaction: take turns with bulk ingestion
        if self.period_input:
            guards.hold_open_months()  # no run closes one of the file's months before it commits
        handles, days = set(), set()
        for value in set(dataset["handle"]):  # each distinct value parsed once
            try:
                handles.add(parsers.parse_handle(value))
            except (ValueError, TypeError):
                continue  # reported on its row
        for value in set(dataset["date"]):
            try:
                days.add(parsers.parse_day(value, latest=self.latest))
            except (ValueError, TypeError):
                continue
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT handle, id FROM {Partner._meta.db_table} WHERE handle = ANY(%s::text[])",
                               [sorted(handles)])
                self.partners = dict(cursor.fetchall())
        else:
            for chunk in _chunks(sorted(handles)):
                self.partners.update(Partner.objects.filter(handle__in=chunk).values_list("handle", "id"))
        self.existing = self.load_existing(sorted(set(self.partners.values())), days)
        if self.period_input:  # one query for the file's partners and months
            self.closed = guards.closed_periods(input=self.period_input, partner_ids=self.partners.values(),
                                                months=days)

    def init_instance(self, row=None):
        instance = object.__new__(self._meta.model)
        instance.__dict__ = {**self._template.__dict__, "_state": ModelState()}
        return instance

    # --- per row ---------------------------------------------------------------------------------------
    def import_row(self, row, instance_loader, **kwargs):
        """django-import-export's import_row, reduced to what these rows need (no diff of model instances, no
        per-row hooks): it runs 10,000 times per file, and its generic form costs more than the work itself."""
        result = RowResult()
        if all(value is None or str(value).strip() == "" for value in row.values()):
            result.import_type = RowResult.IMPORT_TYPE_SKIP  # a blank line of a spreadsheet
            return result
        instance = self.init_instance(row)
        try:
            self.import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            result.import_type, result.validation_error = RowResult.IMPORT_TYPE_INVALID, exc
            return result
        except Exception as exc:  # as the stock import_row: an error row, and the import rolls back
            result.import_type = RowResult.IMPORT_TYPE_ERROR
            result.errors.append(self.get_error_result_class()(exc, row=row, number=kwargs.get("row_number")))
            return result
        before = self.existing.get(self.current)
        if before == self.current_values:
            result.import_type = RowResult.IMPORT_TYPE_SKIP  # identical to the stored row: not rewritten
        else:
            result.import_type = RowResult.IMPORT_TYPE_NEW if before is None else RowResult.IMPORT_TYPE_UPDATE
            self.save_instance(instance, before is None, row, **kwargs)
        result.add_instance_info(instance)
        if kwargs.get("retain_instance_in_row_result"):
            result.instance = instance
        # The preview's cells: the row's key, its values, and "old → new" where a stored value changes.
        values = self.display_values(self.current, self.current_values)
        if result.import_type == RowResult.IMPORT_TYPE_UPDATE:
            values = [f"{old} → {new}" if old != new else new
                      for old, new in zip(self.display_values(self.current, before), values, strict=True)]
        result.diff = [display(row.get(column)) for column in self.key_columns] + values
        return result

    def import_instance(self, instance, row, **kwargs):
        self.current = self.current_values = None
        try:
            parsed = self.parse_row(row)
        except RowRejected as rejected:
            errors: dict[str, list[str]] = {}
            for problem in rejected.problems:
                errors.setdefault(problem.column or "row", []).append(problem.reason)
            raise ValidationError(errors) from None
        handle, size = parsed[0], len(self.key_fields)
        partner_id = self.partners.get(handle)
        if partner_id is None:
            raise ValidationError({"handle": [UNKNOWN_PARTNER.format(value=display(handle))]})
        key, values = (partner_id, *parsed[1:size]), parsed[size:]
        errors = self.row_errors(key, values) or self.closed_month_errors(key)
        if errors:
            raise ValidationError(errors)
        number = kwargs.get("row_number")
        first = self.first_row.setdefault(key, number)
        if first != number:
            raise ValidationError({", ".join(self.key_columns): [  # the line people see in their spreadsheet
                DUPLICATE_LINE.format(first=spreadsheet_line(self.lines, first), key=" and ".join(self.key_columns))]})
        for name, value in zip(self.key_fields + self.value_fields, key + tuple(values), strict=True):
            setattr(instance, name, value)
        instance.partner = self.partner_of(partner_id, handle)  # the row's description reads it (model __str__)
        self.current, self.current_values = key, tuple(values)

    def partner_of(self, partner_id: int, handle: str) -> Partner:
        """The row's partner as its instance shows it: id and handle, the other fields deferred, one per partner;
        read from the database, each row's description cost a query per row."""
        partner = self.partner_rows.get(partner_id)
        if partner is None:
            partner = Partner.from_db(connection.alias, ["id", "handle"], [partner_id, handle])
            self.partner_rows[partner_id] = partner
        return partner

    def save_instance(self, instance, is_create, row, **kwargs):
        self.create_instances.append(instance)  # counted by django-import-export to call bulk_create
        self.pending.append(self.current + self.current_values)

    def get_diff_headers(self):
        return list(self.key_columns) + list(self.value_columns or self.value_fields)

    # --- writing -----------------------------------------------------------------------------------
    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        # The preview writes too (and rolls back): a row the database would refuse shows before confirming.
        if self.pending and (using_transactions or not dry_run):
            try:
                columns = [(name, self.db_types[name]) for name in self.key_fields + self.value_fields]
                upsert_rows(table=self._meta.model._meta.db_table, columns=columns, conflict=self.key_fields,
                            rows=self.pending)
                self.after_upsert(self.pending)
                self.written_partner_ids.update(row[0] for row in self.pending)
                day = self.key_fields.index("day")
                self.written_partner_months.update((row[0], row[day].replace(day=1)) for row in self.pending)
            except Exception as exc:
                self.handle_import_error(result, exc, raise_errors)
        self.pending.clear()
        self.create_instances.clear()

    def after_import(self, dataset, result, **kwargs):
        clean = not result.has_errors() and not result.has_validation_errors()
        if not kwargs.get("dry_run") and clean and self.written_partner_ids:
            self.after_write(self.written_partner_ids)
            if self.period_input:
                months = guards.partner_months(self.written_partner_months)
                first = min(month for _, month in months)
                last = max(month for _, month in months)
                guards.period_inputs_loaded(guards.LoadedInputs(
                    input=self.period_input, partner_months=months, first_day=first, last_day=last,
                    rows=len(months), loaded_on=timezone.localdate(),
                    source=guards.source_label(what="admin spreadsheet import", user=kwargs.get("user")),
                ))
