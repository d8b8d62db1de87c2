"""Messages about files people upload, shared by bulk ingestion and the admin's spreadsheet import, and the
byte counts they quote. Constants, so tests and callers can rely on them."""


def size_text(size: int) -> str:
    """A byte count for people: "2 GiB", "64 KiB", "1,000 bytes"."""
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << power and size % (1 << power) == 0:
            return f"{size >> power:,} {unit}"
    return f"{size:,} bytes"


# Whole-file refusals: the load fails and nothing is written.
FILE_EMPTY = "The file is empty (0 bytes): nothing was loaded."
FILE_NO_ROWS = "The file has a header but no data rows: nothing was loaded."
FILE_MISSING_COLUMNS = (
    "The header lacks these columns: {missing}. Expected the columns {expected} (in any order). Nothing was loaded."
)
FILE_DUPLICATE_COLUMNS = "The header names these columns more than once: {columns}. Nothing was loaded."
FILE_UTF16 = "The file is UTF-16 text: save it as UTF-8 (“CSV UTF-8” in spreadsheets) and load it again."
FILE_HEADER_NOT_UTF8 = (
    "The header is not UTF-8 text (bytes {bytes} cannot be decoded): save the file as UTF-8 and load it again."
)
FILE_NOT_CSV = "Line {line} is not valid CSV ({error}). Nothing was loaded."
FILE_NOT_READABLE = "The file cannot be read ({error}). Nothing was loaded."
FILE_TOO_LARGE = (
    "The file holds more than {limit} of text once decompressed (the limit INGEST_MAX_DECOMPRESSED_BYTES), "
    "passed at line {line}: split it into smaller files. Nothing was loaded."
)
FILE_LINE_TOO_LONG = (
    "Line {line} is longer than {limit} (the limit INGEST_MAX_LINE_BYTES): the file is not the expected CSV. "
    "Nothing was loaded."
)
FILE_UNEXPECTED = "The load stopped on an unexpected error ({error}). Nothing was loaded."

# The admin's spreadsheet import.
TOO_MANY_ROWS = (
    "This file has more than {limit:,} rows: the admin import is for spreadsheets. Load bigger files with bulk "
    "ingestion ({how})."
)
SPREADSHEET_NOT_UTF8 = (
    "The file is not UTF-8 text: the bytes {bytes} on line {line} cannot be decoded. Save it as UTF-8 "
    "(“CSV UTF-8” in spreadsheets) and upload it again."
)
SPREADSHEET_UNREADABLE = "The file cannot be read as {format} ({error}). Check the format chosen below."
XLSX_TOO_LARGE = (
    "This XLSX file holds {size} once unzipped; the admin import takes at most {limit} "
    "(ADMIN_IMPORT_MAX_XLSX_BYTES). Nothing was read: split it, or load it as CSV with bulk ingestion."
)
XLSX_TOO_MANY_PARTS = "This XLSX file has {count:,} parts; a spreadsheet has at most {limit:,}. Nothing was read."
XLSX_PART_TOO_LARGE = "The part {part} of this XLSX file unzips to {size}, more than {limit}. Nothing was read."
XLSX_COMPRESSION_RATIO = (
    "The part {part} of this XLSX file unzips to {ratio:,} times its size (at most {limit:,}): it is not a "
    "spreadsheet's data. Nothing was read."
)
XLSX_TOO_MANY_COLUMNS = "Row {row} of this XLSX file has more than {limit:,} cells. Nothing was read."
XLSX_TOO_MANY_ROWS = (
    "This XLSX file has more than {limit:,} rows, blank ones included: the admin import is for spreadsheets. "
    "Nothing was read."
)
XLSX_TOO_MANY_CELLS = "This XLSX file has more than {limit:,} cells. Nothing was read."
XLSX_CELL_TOO_LONG = "A cell in row {row} holds more than {limit:,} characters. Nothing was read."
IMPORT_HAS_ERRORS = "Nothing was imported: rows with errors: {count}. Correct them and upload the file again."
EXPORT_TOO_LARGE = (
    "This export would have more than {limit:,} rows: filter the list first (the export takes the list's filters "
    "and search)."
)
