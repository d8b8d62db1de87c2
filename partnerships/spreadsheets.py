"""Spreadsheets in and out: cells a spreadsheet opens safely, the CSV and XLSX formats of the admin's import and
export, and the django-import-export resource bases the back-office's resources share.

Safe exports (reference F5): django-import-export's own formula escaping strips one leading "=" only and turns
every cell into text. Here a text cell that a spreadsheet would run as a formula (leading =, +, -, @, tab or
carriage return) gets a leading apostrophe, numbers stay numbers, dates stay dates in XLSX, and an empty value
stays empty (never the text "None")."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from decimal import Decimal

import tablib
from import_export import resources
from import_export.formats import base_formats

from partnerships.exceptions import SPREADSHEET_NOT_UTF8, SPREADSHEET_UNREADABLE

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A text value that cannot run as a formula; anything else unchanged, None as empty text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def cell_value(value, *, native: bool):
    """One exported value. ``native`` (XLSX): numbers, booleans and dates as typed cells, empty as an empty cell.
    Otherwise (CSV): numbers as their exact digits, dates in ISO form, empty as empty text. Text is made safe."""
    if value is None or value == "":
        return None if native else ""
    if isinstance(value, bool | int | Decimal | float):
        return value
    if isinstance(value, dt.datetime):
        value = value.replace(microsecond=0)
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)  # XLSX has no time zones: UTC, as the admin
        return value if native else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value if native else value.isoformat()
    return safe_cell(value if isinstance(value, str) else str(value))


# --- formats ----------------------------------------------------------------------------------------

class SpreadsheetUnreadable(ValueError):
    pass


class SafeFormatMixin:
    """Every text cell of an export goes through safe_cell, whichever resource produced it: a resource that
    forgot would otherwise hand a formula to the spreadsheet."""

    def export_data(self, dataset, **kwargs):
        native = self.is_binary()
        safe = tablib.Dataset(headers=[safe_cell(header) for header in dataset.headers or []])
        for row in dataset:
            safe.append([safe_cell(cell) if isinstance(cell, str) else cell_value(cell, native=native) for cell in row])
        return super().export_data(safe, **kwargs)


class SafeCSV(SafeFormatMixin, base_formats.CSV):
    def inspect(self, uploaded, *, limit: int) -> tuple[list[str], int]:
        """The header and the number of data rows, counted up to ``limit + 1``, reading strictly as UTF-8 line
        by line so that a file in another encoding is refused with the line where it fails."""
        uploaded.seek(0)

        def lines():
            for number, raw in enumerate(uploaded, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad = " ".join(f"0x{byte:02X}" for byte in raw[exc.start:exc.end][:8])
                    raise SpreadsheetUnreadable(SPREADSHEET_NOT_UTF8.format(bytes=bad, line=number)) from exc
                yield text.removeprefix(codecs.BOM_UTF8.decode()) if number == 1 else text

        header, rows = [], 0
        try:
            for values in csv.reader(lines()):
                if not any(value.strip() for value in values):
                    continue
                if not header:
                    header = [value.strip().lower() for value in values]
                    continue
                rows += 1
                if rows > limit:
                    break
        except csv.Error as exc:
            raise SpreadsheetUnreadable(SPREADSHEET_UNREADABLE.format(format="CSV", error=exc)) from exc
        finally:
            uploaded.seek(0)
        return header, rows


class SafeXLSX(SafeFormatMixin, base_formats.XLSX):
    def inspect(self, uploaded, *, limit: int) -> tuple[list[str], int]:
        import openpyxl

        uploaded.seek(0)
        try:
            book = openpyxl.load_workbook(io.BytesIO(uploaded.read()), read_only=True, data_only=True)
            header, rows = [], 0
            for values in book.active.iter_rows(values_only=True):
                if all(value is None or str(value).strip() == "" for value in values):
                    continue
                if not header:
                    header = [str(value).strip().lower() if value is not None else "" for value in values]
                    continue
                rows += 1
                if rows > limit:
                    break
            book.close()
        except Exception as exc:  # openpyxl raises many kinds (zip, XML, key errors) for a file that is not XLSX
            raise SpreadsheetUnreadable(SPREADSHEET_UNREADABLE.format(
                format="XLSX", error=type(exc).__name__)) from exc
        finally:
            uploaded.seek(0)
        return header, rows


FORMATS = [SafeCSV, SafeXLSX]


# --- resources --------------------------------------------------------------------------------------

class SpreadsheetResource(resources.ModelResource):
    """Base of the back-office's resources: typed, safe export cells and no sequence reset after an import.

    ``required_columns`` are checked by the admin's import form before anything is read; ``bulk_hint`` tells
    people where a file too big for the admin goes."""

    required_columns: tuple[str, ...] = ()
    bulk_hint = "split it into files of fewer rows"

    def export_field(self, field, instance, **kwargs):
        native = bool(kwargs.get("force_native_type"))
        kwargs["force_native_type"] = True  # take widgets' typed values; cell_value decides the representation
        return cell_value(super().export_field(field, instance, **kwargs), native=native)

    def after_import(self, dataset, result, **kwargs):
        # ModelResource.after_import resets the table's id sequence to max(id) after every import that created
        # rows; two imports at once then hand out the same ids (django-import-export #2166). Files never carry
        # ids here, so the sequence is always right: nothing to reset.
        return None
