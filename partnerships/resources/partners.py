"""Partners in spreadsheets: created or updated by handle, one by one (each keeps its history, with the file's name
as the reason), validated like the admin's form (full_clean), categories by slug."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from import_export.fields import Field
from import_export.instance_loaders import CachedInstanceLoader
from import_export.widgets import DateWidget

from core.spreadsheets import SpreadsheetResource
from ingestion import fields as parsers
from partnerships.models import Partner
from partnerships.resources.widgets import CategorySlugsWidget, ParsedWidget


class PartnerResource(SpreadsheetResource):
    categories = Field(attribute="categories", column_name="categories", widget=CategorySlugsWidget())
    date_of_birth = Field(attribute="date_of_birth", column_name="date_of_birth", widget=DateWidget("%Y-%m-%d"))
    age_verified = Field(attribute="age_verified", column_name="age_verified", widget=ParsedWidget(parsers.parse_flag))
    # Exported, never imported: payout readiness is finance's, with a reason (services.partner_set_payout_readiness).
    tax_form_on_file = Field(attribute="tax_form_on_file", column_name="tax_form_on_file", readonly=True,
                             widget=ParsedWidget(parsers.parse_flag))
    identity_verified = Field(attribute="identity_verified", column_name="identity_verified", readonly=True,
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
