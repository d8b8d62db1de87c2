"""What the admin's spreadsheet import and export read and write, per model (django-import-export resources).

Files name things by their natural keys (a partner's handle, a program's or category's slug), never by
database ids. Every export cell is typed and safe (partnerships.spreadsheets). Imports:
- partners: created or updated by handle, one by one (each keeps its history, with the file's name as the
  reason), validated like the admin's form (full_clean), categories by slug;
- daily metrics (and payouts' ad revenue): in bulk (``PartnerRowsResource``), with every lookup done once
  for the whole file, so a preview of 50,000 rows takes seconds, not the hours of the default resource.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from import_export.fields import Field
from import_export.instance_loaders import CachedInstanceLoader
from import_export.widgets import DateWidget, ManyToManyWidget, Widget

from partnerships.currencies import to_major
from partnerships.exceptions import (
    DUPLICATE_ROW,
    FILE_MISSING_COLUMNS,
    QUALIFIED_ABOVE_VIEWS,
    UNKNOWN_CATEGORY,
    UNKNOWN_PARTNER,
)
from partnerships.ingest import fields as parsers
from partnerships.ingest.engine import PARTNER_LIST_LIMIT, lock_merges
from partnerships.ingest.fields import display
from partnerships.ingest.metrics import COUNTS
from partnerships.ingest.metrics import LOCK_NAME as METRICS_LOCK_NAME
from partnerships.models import Brand, Campaign, Category, DailyMetric, Enrolment, Partner
from partnerships.spreadsheets import SpreadsheetResource

LOOKUP_CHUNK = 2_000  # keys per IN (...) of the prefetch queries


class ParsedWidget(Widget):
    """Import through one of the shared parsers (same reasons as bulk ingestion); export the typed value."""

    def __init__(self, parse, **kwargs):
        super().__init__(**kwargs)
        self.parse = parse

    def clean(self, value, row=None, **kwargs):
        return self.parse(value)

    def render(self, value, obj=None, **kwargs):
        return value


class CategorySlugsWidget(ManyToManyWidget):
    """Categories as comma-separated slugs. An unknown slug is an error (the stock widget drops it silently)."""

    def __init__(self):
        super().__init__(Category, separator=",", field="slug")
        self._by_slug: dict[str, Category] | None = None

    def clean(self, value, row=None, **kwargs):
        if self._by_slug is None:  # a short list: read once per import
            self._by_slug = {category.slug: category for category in Category.objects.all()}
        slugs = [slug.strip() for slug in str(value or "").split(self.separator) if slug.strip()]
        unknown = [slug for slug in slugs if slug not in self._by_slug]
        if unknown:
            known = ", ".join(sorted(self._by_slug)[:5]) or "comedy"
            raise ValueError(UNKNOWN_CATEGORY.format(slugs=", ".join(map(display, unknown)), known=known))
        return [self._by_slug[slug] for slug in dict.fromkeys(slugs)]

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return ", ".join(sorted(category.slug for category in value.all()))


def _chunks(values, size=LOOKUP_CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


# --- partners ---------------------------------------------------------------------------------------

class PartnerResource(SpreadsheetResource):
    categories = Field(attribute="categories", column_name="categories", widget=CategorySlugsWidget())
    date_of_birth = Field(attribute="date_of_birth", column_name="date_of_birth", widget=DateWidget("%Y-%m-%d"))
    age_verified = Field(attribute="age_verified", column_name="age_verified", widget=ParsedWidget(parsers.parse_flag))
    tax_form_on_file = Field(attribute="tax_form_on_file", column_name="tax_form_on_file",
                             widget=ParsedWidget(parsers.parse_flag))
    identity_verified = Field(attribute="identity_verified", column_name="identity_verified",
                              widget=ParsedWidget(parsers.parse_flag))
    opted_into_brand_deals = Field(attribute="opted_into_brand_deals", column_name="opted_into_brand_deals",
                                   widget=ParsedWidget(parsers.parse_flag))
    status = Field(attribute="status", column_name="status", readonly=True)  # changes go through suspend

    required_columns = ("handle",)

    class Meta:
        model = Partner
        fields = ("handle", "display_name", "kind", "country", "date_of_birth", "categories", "age_verified",
                  "tax_form_on_file", "identity_verified", "opted_into_brand_deals", "status")
        export_order = fields
        import_id_fields = ("handle",)
        instance_loader_class = CachedInstanceLoader  # every handle of the file in one query
        clean_model_instances = True  # the same validation as the admin's form: handle, country, organisations
        skip_unchanged = True
        report_skipped = True

    def filter_export(self, queryset, **kwargs):
        return queryset.prefetch_related("categories")

    def import_instance(self, instance, row, **kwargs):
        # The stock import leaves many-to-many fields to save_m2m, after the row is saved, where an unknown
        # category would be a crash rather than a row error: check them with the other fields.
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        field = self.fields["categories"]
        if field.column_name in row:
            try:
                field.clean(row)
            except ValueError as exc:
                errors[field.column_name] = [str(exc)]
        if errors:
            raise ValidationError(errors)

    def before_save_instance(self, instance, row, **kwargs):
        # The partner's history says who imported the change and from which file.
        instance._history_user = kwargs.get("user")
        instance._change_reason = f"Imported from {kwargs.get('file_name') or 'a spreadsheet'}"


# --- rows keyed by partner and day, in bulk ---------------------------------------------------------

class PartnerRowsResource(SpreadsheetResource):
    """Rows of a table whose natural key starts with the partner (given by handle) and a day, imported in bulk.

    For the whole file at once: the partners of its handles (one query per 2,000 handles), the rows it would
    replace (idem), a lock shared with bulk ingestion of the same table. Per row: the shared parsers, a
    duplicate check, and a comparison with the stored values (an identical row is "skipped", not rewritten).
    Rows are written by INSERT ... ON CONFLICT DO UPDATE in batches of 1,000, in key order."""

    handle = Field(attribute="partner__handle", column_name="handle")

    key_columns: tuple[str, ...] = ("handle", "date")
    value_fields: tuple[str, ...] = ()  # the model's fields an import sets (and compares with the stored row)
    value_columns: tuple[str, ...] = ()  # their columns in the file, when named otherwise
    unique_fields: tuple[str, ...] = ("partner", "day")
    lock_name = ""

    class Meta:
        use_bulk = True
        batch_size = 1000
        skip_diff = True  # the preview shows each row's values and what changes, computed cheaply below
        report_skipped = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.partners: dict[str, int] = {}
        self.existing: dict[tuple, tuple] = {}
        self.first_row: dict[tuple, int] = {}
        self.written_partner_ids: set[int] = set()
        self.current: tuple | None = None
        self.current_values: tuple | None = None

    # --- subclass hooks ----------------------------------------------------------------------------
    def key_of(self, instance) -> tuple:
        return (instance.partner_id, instance.day)

    def values_of(self, instance) -> tuple:
        return tuple(getattr(instance, name) for name in self.value_fields)

    def load_existing(self, partner_ids: list[int], dataset) -> dict[tuple, tuple]:
        raise NotImplementedError

    def row_errors(self, instance, row) -> dict[str, list[str]]:
        """Checks across columns, once every column parsed; may also set fields (ad revenue's amount)."""
        return {}

    def display_values(self, key: tuple, values: tuple) -> list[str]:
        return [display(value) for value in values]

    def after_write(self, partner_ids: set[int]) -> None:
        pass

    # --- once per file -----------------------------------------------------------------------------
    def before_import(self, dataset, **kwargs):
        headers = [str(header).strip().lower() for header in dataset.headers or []]
        if headers != list(dataset.headers or []):
            dataset.headers = headers
        missing = [column for column in self.required_columns if column not in headers]
        if missing:
            raise ValueError(FILE_MISSING_COLUMNS.format(missing=", ".join(missing),
                                                         expected=", ".join(self.required_columns)))
        lock_merges(self.lock_name)  # inside the import's transaction: take turns with bulk ingestion
        handles = set()
        for value in dataset["handle"]:
            try:
                handles.add(parsers.parse_handle(value))
            except ValueError:
                continue  # reported on its row
        for chunk in _chunks(sorted(handles)):
            self.partners.update(Partner.objects.filter(handle__in=chunk).values_list("handle", "id"))
        self.existing = self.load_existing(sorted(set(self.partners.values())), dataset)

    def get_or_init_instance(self, instance_loader, row):
        return self.init_instance(row), True  # whether it is new is known once the row is parsed

    # --- per row ---------------------------------------------------------------------------------------
    def import_row(self, row, instance_loader, **kwargs):
        if all(value is None or str(value).strip() == "" for value in row.values()):
            from import_export.results import RowResult

            skipped = RowResult()
            skipped.import_type = RowResult.IMPORT_TYPE_SKIP  # a blank line of a spreadsheet
            return skipped
        return super().import_row(row, instance_loader, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        errors: dict[str, list[str]] = {}
        self.current = self.current_values = None
        try:
            handle = parsers.parse_handle(row.get("handle"))
            if handle not in self.partners:
                raise ValueError(UNKNOWN_PARTNER.format(value=display(handle)))
            instance.partner_id = self.partners[handle]
        except ValueError as exc:
            errors["handle"] = [str(exc)]
        for field in self.get_import_fields():
            if field.column_name == "handle" or field.readonly:
                continue
            try:
                self.import_field(field, instance, row, **kwargs)
            except ValueError as exc:
                errors[field.column_name] = [str(exc)]
        if not errors:
            errors.update(self.row_errors(instance, row))
        if not errors:
            key, number = self.key_of(instance), kwargs.get("row_number")
            first = self.first_row.setdefault(key, number)
            if first != number:
                errors[", ".join(self.key_columns)] = [DUPLICATE_ROW.format(first=first,
                                                                             key=" and ".join(self.key_columns))]
            else:
                self.current, self.current_values = key, self.values_of(instance)
        if errors:
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors or self.current is None:
            return False
        return self.existing.get(self.current) == self.current_values

    def save_instance(self, instance, is_create, row, **kwargs):
        self.create_instances.append(instance)  # new or not, one upsert writes it

    def after_import_row(self, row, row_result, **kwargs):
        if row_result.import_type in (row_result.IMPORT_TYPE_INVALID, row_result.IMPORT_TYPE_ERROR):
            return
        before = self.existing.get(self.current) if self.current is not None else None
        if row_result.import_type == row_result.IMPORT_TYPE_NEW and before is not None:
            row_result.import_type = row_result.IMPORT_TYPE_UPDATE
        if self.current is None:  # a blank row
            return
        # The preview's cells: the row's key, its values, and "old → new" where a stored value changes.
        cells = [display(row.get(column)) for column in self.key_columns]
        values = self.display_values(self.current, self.current_values)
        if before is not None and row_result.import_type == row_result.IMPORT_TYPE_UPDATE:
            values = [f"{old} → {new}" if old != new else new
                      for old, new in zip(self.display_values(self.current, before), values, strict=True)]
        row_result.diff = cells + values

    def get_diff_headers(self):
        return list(self.key_columns) + list(self.value_columns or self.value_fields)

    # --- writing -----------------------------------------------------------------------------------
    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        instances = self.create_instances
        if instances and (using_transactions or not dry_run):
            try:
                instances.sort(key=self.key_of)  # the same order as every other writer: no deadlock
                self._meta.model.objects.bulk_create(
                    instances, batch_size=self._meta.batch_size, update_conflicts=True,
                    unique_fields=list(self.unique_fields), update_fields=list(self.value_fields),
                )
                self.written_partner_ids.update(instance.partner_id for instance in instances)
            except Exception as exc:
                self.handle_import_error(result, exc, raise_errors)
            finally:
                instances.clear()

    def after_import(self, dataset, result, **kwargs):
        clean = not result.has_errors() and not result.has_validation_errors()
        if not kwargs.get("dry_run") and clean and self.written_partner_ids:
            self.after_write(self.written_partner_ids)


class DailyMetricResource(PartnerRowsResource):
    date = Field(attribute="day", column_name="date", widget=ParsedWidget(parsers.parse_day))
    views = Field(attribute="views", column_name="views", widget=ParsedWidget(parsers.parse_count))
    qualified_views = Field(attribute="qualified_views", column_name="qualified_views",
                            widget=ParsedWidget(parsers.parse_count))
    likes = Field(attribute="likes", column_name="likes", widget=ParsedWidget(parsers.parse_count))
    comments = Field(attribute="comments", column_name="comments", widget=ParsedWidget(parsers.parse_count))
    shares = Field(attribute="shares", column_name="shares", widget=ParsedWidget(parsers.parse_count))
    followers = Field(attribute="followers", column_name="followers", widget=ParsedWidget(parsers.parse_count))
    posts = Field(attribute="posts", column_name="posts", widget=ParsedWidget(parsers.parse_count))

    value_fields = COUNTS
    lock_name = METRICS_LOCK_NAME
    required_columns = ("handle", "date", *COUNTS)
    bulk_hint = "Import jobs → “Upload metrics file…”, or manage.py ingest_metrics FILE"

    class Meta:
        model = DailyMetric
        fields = ("handle", "date", *COUNTS)
        export_order = fields

    def load_existing(self, partner_ids, dataset):
        days = set()
        for value in dataset["date"]:
            try:
                days.add(parsers.parse_day(value))
            except ValueError:
                continue
        existing = {}
        for chunk in _chunks(partner_ids):
            rows = DailyMetric.objects.filter(partner_id__in=chunk, day__in=days).values_list(
                "partner_id", "day", *COUNTS)
            existing.update({(row[0], row[1]): tuple(row[2:]) for row in rows})
        return existing

    def row_errors(self, instance, row):
        if instance.qualified_views > instance.views:
            return {"qualified_views": [QUALIFIED_ABOVE_VIEWS.format(qualified=instance.qualified_views,
                                                                     views=instance.views)]}
        return {}

    def after_write(self, partner_ids):
        from partnerships.tasks import refresh_partner_statistics_task

        ids = sorted(partner_ids) if len(partner_ids) <= PARTNER_LIST_LIMIT else None
        transaction.on_commit(lambda: refresh_partner_statistics_task.delay(partner_ids=ids))


# --- exports only -----------------------------------------------------------------------------------

class EnrolmentResource(SpreadsheetResource):
    partner = Field(attribute="partner__handle", column_name="partner")
    program = Field(attribute="program__slug", column_name="program")
    decided_by = Field(attribute="decided_by__username", column_name="decided_by")

    class Meta:
        model = Enrolment
        fields = ("partner", "program", "status", "submitted_at", "eligibility_passed", "decided_by", "decided_at",
                  "decision_reason", "eligibility_override_reason", "approved_at")
        export_order = fields


class BrandResource(SpreadsheetResource):
    class Meta:
        model = Brand
        fields = ("slug", "name", "is_active", "created_at")
        export_order = fields


class CampaignResource(SpreadsheetResource):
    brand = Field(attribute="brand__slug", column_name="brand")
    budget = Field(column_name="budget")
    categories = Field(attribute="categories", column_name="categories", widget=CategorySlugsWidget())
    target_countries = Field(column_name="target_countries")

    class Meta:
        model = Campaign
        fields = ("brand", "name", "status", "budget", "currency", "starts_on", "ends_on", "target_countries",
                  "categories", "followers_min", "followers_max", "min_engagement_rate", "min_avg_views",
                  "deliverables", "created_at")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("brand").prefetch_related("categories")

    def dehydrate_budget(self, campaign: Campaign):
        return to_major(campaign.budget_minor, campaign.currency)  # major units, beside the currency column

    def dehydrate_target_countries(self, campaign: Campaign):
        return ", ".join(campaign.target_countries or [])
