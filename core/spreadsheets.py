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
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any
from xml.etree.ElementTree import ParseError as XMLParseError
from xml.etree.ElementTree import iterparse

import tablib
from django.conf import settings
from import_export import resources
from import_export.formats import base_formats

from core.files import (
    SPREADSHEET_NOT_UTF8,
    SPREADSHEET_UNREADABLE,
    XLSX_CELL_TOO_LONG,
    XLSX_COMPRESSION_RATIO,
    XLSX_PART_TOO_LARGE,
    XLSX_TOO_LARGE,
    XLSX_TOO_MANY_CELLS,
    XLSX_TOO_MANY_COLUMNS,
    XLSX_TOO_MANY_PARTS,
    XLSX_TOO_MANY_ROWS,
    size_text,
)
from core.importpreview import csv_data_lines, import_problems

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text value that cannot run as a formula; anything else unchanged, None as empty text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def cell_value(value: Any, *, native: bool) -> Any:
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


if TYPE_CHECKING:
    class _Format:  # what the mixin uses of django-import-export's formats, which carry no type information
        def is_binary(self) -> bool: ...
        def export_data(self, dataset: Any, **kwargs: Any) -> Any: ...
        def can_import(self) -> bool: ...
        def can_export(self) -> bool: ...
else:
    _Format = object


class SafeFormatMixin(_Format):
    """Every text cell of an export goes through safe_cell, whichever resource produced it: a resource that
    forgot would otherwise hand a formula to the spreadsheet."""

    def export_data(self, dataset: Any, **kwargs: Any) -> Any:
        native = self.is_binary()
        safe = tablib.Dataset(headers=[safe_cell(header) for header in dataset.headers or []])
        for row in dataset:
            safe.append([safe_cell(cell) if isinstance(cell, str) else cell_value(cell, native=native) for cell in row])
        return super().export_data(safe, **kwargs)


class SafeCSV(SafeFormatMixin, base_formats.CSV):  # type: ignore[misc]  # the base has no type information
    def create_dataset(self, in_stream: Any, **kwargs: Any) -> Any:
        """As django-import-export's, recording each data row's spreadsheet line (core.importpreview)."""
        dataset = super().create_dataset(in_stream, **kwargs)
        text = in_stream.decode(self.encoding) if isinstance(in_stream, bytes) and self.encoding else in_stream
        if isinstance(text, str):
            dataset.spreadsheet_lines = csv_data_lines(text)
        return dataset

    def inspect(self, uploaded: IO[bytes], *, limit: int) -> tuple[list[str], int]:
        """The header and the number of data rows, counted up to ``limit + 1``, reading strictly as UTF-8 line
        by line so that a file in another encoding is refused with the line where it fails."""
        uploaded.seek(0)

        def lines() -> Iterator[str]:
            for number, raw in enumerate(uploaded, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad = " ".join(f"0x{byte:02X}" for byte in raw[exc.start:exc.end][:8])
                    raise SpreadsheetUnreadable(SPREADSHEET_NOT_UTF8.format(bytes=bad, line=number)) from exc
                yield text.removeprefix(codecs.BOM_UTF8.decode()) if number == 1 else text

        header: list[str] = []
        rows = 0
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


# --- XLSX, bounded -------------------------------------------------------------------------------------
# An XLSX file is a zip of XML parts: a few hundred KB can unzip to gigabytes, and openpyxl holds some parts whole
# (shared strings, styles) and a worksheet row whole even in its read-only mode. So the zip's directory is checked
# before anything is unzipped, the worksheets are counted by a streaming pass that keeps one row of empty elements
# at most, and only then does openpyxl read, in read-only mode, the worksheet's real cells (not its declared
# dimension, which a file may set to 16,384 columns by 1,048,576 rows).
XLSX_MAX_PARTS = 200
XLSX_MAX_RATIO = 100  # legitimate sheets unzip to 5-20 times their size
XLSX_RATIO_FLOOR = 1 << 20  # a part smaller than this may compress as well as it likes
XLSX_MAX_PART_BYTES = 10 << 20  # parts other than worksheets, which openpyxl reads whole
XLSX_MAX_COLUMNS = 100
XLSX_MAX_CELLS = 2_000_000
XLSX_MAX_CELL_CHARACTERS = 32_767  # Excel's own limit
WORKSHEETS = "xl/worksheets/"


class SpreadsheetTooLarge(SpreadsheetUnreadable):
    pass


def xlsx_package_check(stream: IO[bytes], *, max_rows: int) -> None:
    """Refuse an XLSX file whose parts would unzip to too much, or whose worksheets hold too many rows, cells in a
    row or characters in a cell, before openpyxl parses anything. Reads the zip's directory, then streams each
    worksheet (zipfile never unzips past a part's declared size)."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SpreadsheetUnreadable(SPREADSHEET_UNREADABLE.format(format="XLSX", error=type(exc).__name__)) from exc
    with archive:
        parts = archive.infolist()
        if len(parts) > XLSX_MAX_PARTS:
            raise SpreadsheetTooLarge(XLSX_TOO_MANY_PARTS.format(count=len(parts), limit=XLSX_MAX_PARTS))
        total, limit = sum(part.file_size for part in parts), settings.ADMIN_IMPORT_MAX_XLSX_BYTES
        if total > limit:
            raise SpreadsheetTooLarge(XLSX_TOO_LARGE.format(size=size_text(total), limit=size_text(limit)))
        for part in parts:
            if part.file_size > XLSX_RATIO_FLOOR and part.file_size > XLSX_MAX_RATIO * max(part.compress_size, 1):
                raise SpreadsheetTooLarge(XLSX_COMPRESSION_RATIO.format(
                    part=part.filename, ratio=part.file_size // max(part.compress_size, 1), limit=XLSX_MAX_RATIO))
            if not part.filename.startswith(WORKSHEETS) and part.file_size > XLSX_MAX_PART_BYTES:
                raise SpreadsheetTooLarge(XLSX_PART_TOO_LARGE.format(
                    part=part.filename, size=size_text(part.file_size), limit=size_text(XLSX_MAX_PART_BYTES)))
        cells = 0
        for part in parts:
            if part.filename.startswith(WORKSHEETS) and part.filename.endswith(".xml"):
                with archive.open(part) as sheet:
                    cells = _worksheet_check(sheet, max_rows=max_rows, cells=cells)


def _worksheet_check(sheet: IO[bytes], *, max_rows: int, cells: int) -> int:
    rows = in_row = 0
    sheet_data = None
    try:
        for event, element in iterparse(sheet, events=("start", "end")):
            name = element.tag.rpartition("}")[2]
            if event == "start":
                if name == "sheetData":
                    sheet_data = element
                continue
            if name == "c":
                cells, in_row = cells + 1, in_row + 1
                if in_row > XLSX_MAX_COLUMNS:
                    raise SpreadsheetTooLarge(XLSX_TOO_MANY_COLUMNS.format(row=rows + 1, limit=XLSX_MAX_COLUMNS))
                if cells > XLSX_MAX_CELLS:
                    raise SpreadsheetTooLarge(XLSX_TOO_MANY_CELLS.format(limit=XLSX_MAX_CELLS))
                element.clear()
            elif name in ("v", "t") and element.text and len(element.text) > XLSX_MAX_CELL_CHARACTERS:
                raise SpreadsheetTooLarge(XLSX_CELL_TOO_LONG.format(row=rows + 1, limit=XLSX_MAX_CELL_CHARACTERS))
            elif name == "row":
                rows, in_row = rows + 1, 0
                if rows > max_rows:
                    raise SpreadsheetTooLarge(XLSX_TOO_MANY_ROWS.format(limit=max_rows))
                if sheet_data is not None:
                    sheet_data.clear()  # the rows read so far: nothing is kept
    except XMLParseError as exc:
        raise SpreadsheetUnreadable(SPREADSHEET_UNREADABLE.format(format="XLSX", error="XML")) from exc
    return cells


def xlsx_rows(data: bytes, *, max_rows: int) -> Iterator[list[Any]]:
    """The active sheet's rows as lists of values, each without its trailing empty cells, after
    xlsx_package_check. Rows missing from the file come as empty lists and count as rows."""
    import openpyxl

    xlsx_package_check(io.BytesIO(data), max_rows=max_rows)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, key errors) for a file that is not XLSX
        raise SpreadsheetUnreadable(SPREADSHEET_UNREADABLE.format(format="XLSX", error=type(exc).__name__)) from exc
    try:
        sheet = book.active
        sheet.reset_dimensions()  # the real cells, not a declared A1:XFD1048576
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > max_rows:
                raise SpreadsheetTooLarge(XLSX_TOO_MANY_ROWS.format(limit=max_rows))
            values = list(values)
            while values and values[-1] is None:
                values.pop()
            if len(values) > XLSX_MAX_COLUMNS:
                raise SpreadsheetTooLarge(XLSX_TOO_MANY_COLUMNS.format(row=number, limit=XLSX_MAX_COLUMNS))
            yield values
    except SpreadsheetUnreadable:
        raise
    except Exception as exc:
        raise SpreadsheetUnreadable(SPREADSHEET_UNREADABLE.format(format="XLSX", error=type(exc).__name__)) from exc
    finally:
        book.close()


def xlsx_max_rows() -> int:
    """Physical rows an admin import may hold: the header, the data rows and as many blank ones."""
    return 2 * settings.ADMIN_IMPORT_MAX_ROWS + 1


class SafeXLSX(SafeFormatMixin, base_formats.XLSX):  # type: ignore[misc]  # the base has no type information
    def inspect(self, uploaded: IO[bytes], *, limit: int) -> tuple[list[str], int]:
        uploaded.seek(0)
        try:
            header: list[str] = []
            rows = 0
            for values in xlsx_rows(uploaded.read(), max_rows=max(xlsx_max_rows(), 2 * limit + 1)):
                if all(value is None or str(value).strip() == "" for value in values):
                    continue
                if not header:
                    header = [str(value).strip().lower() if value is not None else "" for value in values]
                    continue
                rows += 1
                if rows > limit:
                    break
        finally:
            uploaded.seek(0)
        return header, rows

    def create_dataset(self, in_stream: bytes) -> Any:
        """As django-import-export's (the first row is the header), but bounded: see xlsx_rows. Every row has the
        header's width (cells past it are dropped, as the declared dimension's padding would be ignored)."""
        rows = xlsx_rows(in_stream, max_rows=xlsx_max_rows())
        dataset = tablib.Dataset()
        header = next(rows, [])
        dataset.headers = header
        width = len(header)
        ignore_blanks = getattr(settings, "IMPORT_EXPORT_IMPORT_IGNORE_BLANK_LINES", False)
        lines = []  # each data row's line in the sheet (core.importpreview): the header is line 1
        for line, values in enumerate(rows, start=2):
            if ignore_blanks and all(value is None for value in values):
                continue
            dataset.append((values + [None] * width)[:width])
            lines.append(line)
        dataset.spreadsheet_lines = lines
        return dataset


FORMATS = [SafeCSV, SafeXLSX]


# --- resources --------------------------------------------------------------------------------------

class SpreadsheetResource(resources.ModelResource):  # type: ignore[misc]  # the base has no type information
    """Base of the back-office's resources: typed, safe export cells and no sequence reset after an import.

    ``required_columns`` are checked by the admin's import form before anything is read; ``bulk_hint`` tells
    people where a file too big for the admin goes."""

    required_columns: tuple[str, ...] = ()
    bulk_hint = "split it into files of fewer rows"

    def export_field(self, field: Any, instance: Any, **kwargs: Any) -> Any:
        native = bool(kwargs.get("force_native_type"))
        kwargs["force_native_type"] = True  # take widgets' typed values; cell_value decides the representation
        return cell_value(super().export_field(field, instance, **kwargs), native=native)

    def import_data_inner(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
        """As django-import-export's, with the result's problems listed by spreadsheet line, column, value and
        reason (``result.problems``, core.importpreview) for the preview and the confirmation's message."""
        result = super().import_data_inner(dataset, *args, **kwargs)
        columns = {field.attribute: field.column_name for field in self.fields.values() if field.attribute}
        result.problems = import_problems(result, dataset, columns)
        return result

    def after_import(self, dataset: Any, result: Any, **kwargs: Any) -> None:
        # ModelResource.after_import resets the table's id sequence to max(id) after every import that created
        # rows; two imports at once then hand out the same ids (django-import-export #2166). Files never carry
        # ids here, so the sequence is always right: nothing to reset.
        return None
