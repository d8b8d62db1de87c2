"""The admin's spreadsheet import and export (django-import-export), as the back-office wants them:

- each needs its own permission (`<app>.import_<model>`, `<app>.export_<model>`, settings
  IMPORT_EXPORT_*_PERMISSION_CODE): without it there is neither the button nor the URL (403);
- CSV and XLSX only, with safe, typed cells (core.spreadsheets);
- the upload is checked before anything is read into memory: UTF-8, the resource's required columns, at most
  ADMIN_IMPORT_MAX_ROWS rows (bigger files are sent to bulk ingestion);
- the preview is a dry run whose problems come first, as a table of line (as the spreadsheet numbers it),
  column, value and reason (core.importpreview); confirming writes every row or none (a row that became invalid
  since the preview rolls the whole import back);
- after a failed preview the file is kept for a retry ("Retry with the same file"), since a browser cannot
  fill the file input again;
- the uploaded file waits for the confirmation in shared media storage, so the confirming request may reach
  another web instance (django-import-export #251);
- exports take the list's filters and search, and refuse more than EXPORT_MAX_ROWS rows.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.forms import ImportForm
from import_export.tmp_storages import MediaStorage

from core.files import (
    EXPORT_TOO_LARGE,
    FILE_EMPTY,
    FILE_MISSING_COLUMNS,
    FILE_NO_ROWS,
    IMPORT_HAS_ERRORS,
    TOO_MANY_ROWS,
)
from core.importpreview import (
    KEPT_FIELD,
    KEPT_UPLOAD_GONE,
    SHOWN_PROBLEMS,
    kept_upload_discard,
    kept_upload_open,
    kept_upload_save,
)
from core.spreadsheets import FORMATS, SafeFormatMixin, SpreadsheetUnreadable

EXPORT_MAX_ROWS = 200_000
SHOWN_ERRORS = 10


class SpreadsheetImportForm(ImportForm):  # type: ignore[misc]  # the base has no type information
    """The stock form, plus a look at the file before django-import-export reads all of it into memory."""

    def __init__(self, formats: list[type[Any]], resources: list[type[Any]], **kwargs: Any) -> None:
        super().__init__(formats, resources, **kwargs)
        self.format_classes, self.resource_classes = formats, resources

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()
        upload, chosen = data.get("import_file"), data.get("format")
        if upload is None or chosen in (None, "") or self.errors:
            return data
        resource = self.resource_classes[int(data.get("resource") or 0)]
        limit = settings.ADMIN_IMPORT_MAX_ROWS
        try:
            header, rows = self.format_classes[int(chosen)]().inspect(upload, limit=limit)
        except SpreadsheetUnreadable as exc:
            self.add_error("import_file", str(exc))
            return data
        required = getattr(resource, "required_columns", ())
        missing = [column for column in required if column not in header]
        if not header:
            self.add_error("import_file", FILE_EMPTY)
        elif missing:
            self.add_error("import_file", FILE_MISSING_COLUMNS.format(missing=", ".join(missing),
                                                                      expected=", ".join(required)))
        elif rows == 0:
            self.add_error("import_file", FILE_NO_ROWS)
        elif rows > limit:
            self.add_error("import_file", TOO_MANY_ROWS.format(limit=limit, how=getattr(
                resource, "bulk_hint", "split it into files of fewer rows")))
        return data


class SpreadsheetExportMixin(ExportMixin):  # type: ignore[misc]  # the base has no type information
    to_encoding = "utf-8-sig"  # a BOM: spreadsheets then read the CSV as UTF-8

    def get_export_formats(self) -> list[type[SafeFormatMixin]]:
        return [fmt for fmt in FORMATS if fmt().can_export()]

    def get_export_data(self, file_format: SafeFormatMixin, request: HttpRequest, queryset: Any,
                        **kwargs: Any) -> Any:
        if not self.has_export_permission(request):
            raise PermissionDenied
        if queryset[: EXPORT_MAX_ROWS + 1].count() > EXPORT_MAX_ROWS:
            raise ValueError(EXPORT_TOO_LARGE.format(limit=EXPORT_MAX_ROWS))  # shown on the export page
        # Typed cells for XLSX: the stock mixin decides by exact format class, which misses our subclasses.
        data = self.get_data_for_export(request, queryset, force_native_type=file_format.is_binary(), **kwargs)
        exported = file_format.export_data(data)
        encoding = kwargs.get("encoding")
        if not file_format.is_binary() and encoding:
            exported = exported.encode(encoding)
        return exported


class SpreadsheetImportExportMixin(SpreadsheetExportMixin, ImportExportMixin):  # type: ignore[misc]  # as above
    import_form_class = SpreadsheetImportForm
    import_template_name = "admin/partnerships/import.html"
    tmp_storage_class = MediaStorage
    import_error_display = ("message",)

    def get_import_formats(self) -> list[type[SafeFormatMixin]]:
        return [fmt for fmt in FORMATS if fmt().can_import()]

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs["rollback_on_validation_errors"] = True  # all rows or none, also on confirmation
        return kwargs

    def get_import_form_kwargs(self, request: HttpRequest) -> dict[str, Any]:
        """A retry with the kept file: the posted token stands for the file the browser could not send again
        (a newly chosen file wins)."""
        kwargs: dict[str, Any] = super().get_import_form_kwargs(request)
        token = request.POST.get(KEPT_FIELD) if request.method == "POST" else None
        if token and not request.FILES.get("import_file"):
            kept = kept_upload_open(request, key=self.model._meta.label, token=token)
            if kept is None:
                request.kept_upload_gone = True  # type: ignore[attr-defined]  # told on the page
            else:
                files = request.FILES.copy()
                files["import_file"] = kept
                kwargs["files"] = files
        return kwargs

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """The stock preview, with its problems as a table first and the file kept when the preview fails."""
        response: HttpResponse = super().import_action(request, **kwargs)
        if request.method != "POST" or not isinstance(response, TemplateResponse) or response.context_data is None:
            return response
        context = response.context_data
        form, result = context.get("form"), context.get("result")
        key = self.model._meta.label
        if "confirm_form" in context:  # a clean preview: the confirmation has its own copy of the file
            kept_upload_discard(request, key=key)
            return response
        problems = list(getattr(result, "problems", [])) if result is not None else []
        context["problems"] = problems[:SHOWN_PROBLEMS]
        context["problem_count"] = len(problems)
        upload = form.files.get("import_file") if form is not None and form.files else None
        kept = kept_upload_save(request, key=key, upload=upload)
        context["kept_upload"] = kept
        if kept is not None and form is not None:
            form.fields["import_file"].required = False  # the page may be sent with the kept file instead
        if getattr(request, "kept_upload_gone", False):
            context["kept_upload_gone"] = KEPT_UPLOAD_GONE
        return response

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        if result.has_errors() or result.has_validation_errors():
            problems = [(f"line {problem.line}" if problem.line else "the file")
                        + (f", {problem.column}" if problem.column else "") + f": {problem.reason}"
                        for problem in getattr(result, "problems", [])]
            messages.error(request, IMPORT_HAS_ERRORS.format(count=len(problems)) + " "
                           + " | ".join(problems[:SHOWN_ERRORS]) + (" …" if len(problems) > SHOWN_ERRORS else ""))
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_import"))
        response: HttpResponse = super().process_result(result, request)
        return response
