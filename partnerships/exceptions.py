"""Domain errors of the partnerships app. Messages are constants so tests and callers can rely on them."""


class PartnershipsError(Exception):
    """Base class: a request that the rules refuse. Its message is meant for the person who asked."""


class TransitionError(PartnershipsError):
    pass


class NotPermitted(PartnershipsError):
    pass


class ApplicationRefused(PartnershipsError):
    pass


class ReasonRequired(PartnershipsError):
    pass


CANNOT_TRANSITION = "Cannot {action} an application that is {status}; only {allowed} ones can be {done}."
ALREADY_DECIDED = "This application was already {status} by {who} at {when:%Y-%m-%d %H:%M} UTC."
NO_PERMISSION = "{user} may not {action}: it needs the permission “{permission}”."
REASON_REQUIRED = "A reason is required to {action}."
PROGRAM_CLOSED = "The program “{program}” is closed to new applications."
ALREADY_LIVE = "@{handle} already has a live application or membership in “{program}” (status: {status})."
COOLDOWN = (
    "@{handle} was rejected from “{program}” on {rejected:%Y-%m-%d} and may re-apply from {allowed:%Y-%m-%d} "
    "({days}-day cool-down)."
)
PARTNER_REMOVED = "@{handle} has been removed and cannot apply to programs."
OVERRIDE_REQUIRED = (
    "This application fails {rules}. Approving it needs an explicit eligibility override with a reason."
)
HARD_RULE_FAILED = "This application fails {rules}, which cannot be overridden."
PARTNER_ALREADY_STATUS = "@{handle} is already {status}."
PARTNER_NOT_SUSPENDED = "@{handle} is {status}; only suspended partners can be reinstated."


# --- data in and out ------------------------------------------------------------------------------

class IngestFailed(PartnershipsError):
    """The whole file is refused (empty, unreadable, a column missing): nothing was loaded."""


# Whole-file refusals: the job fails and nothing is written.
FILE_EMPTY = "The file is empty (0 bytes): nothing was loaded."
FILE_NO_ROWS = "The file has a header but no data rows: nothing was loaded."
FILE_MISSING_COLUMNS = (
    "The header lacks the column(s) {missing}. Expected the columns {expected} (in any order). Nothing was loaded."
)
FILE_DUPLICATE_COLUMNS = "The header names the column(s) {columns} more than once. Nothing was loaded."
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
JOB_NOT_PERMITTED = "{user} may not load {kind} files: it needs the permission “{permission}”."
UNKNOWN_IMPORT_KIND = "There is no bulk ingestion for “{kind}”."

# One value of one row: the row is rejected and listed in the error report with its row and column.
ROW_WIDTH = "expected {expected} values, found {found}"
VALUE_MISSING = "missing value"
VALUE_NOT_UTF8 = "not UTF-8 text (bytes {bytes} cannot be decoded): save the file as UTF-8"
BAD_HANDLE = "“{value}” is not a handle: 2-40 lower-case letters, digits, dots or underscores"
UNKNOWN_PARTNER = "no partner has the handle “{value}”"
BAD_DATE = "“{value}” is not a date in the form YYYY-MM-DD"
FUTURE_DATE = "{value} is in the future"
NEGATIVE_COUNT = "negative ({value}): counts cannot be below zero"
BAD_COUNT = "“{value}” is not a whole number"
COUNT_TOO_LARGE = "{value} is larger than any count this system holds"
QUALIFIED_ABOVE_VIEWS = "qualified views ({qualified}) exceed views ({views})"
DUPLICATE_ROW = "duplicate of row {first}: the same {key} appears more than once in the file; the first is kept"
UNKNOWN_CATEGORY = "unknown category: {slugs} (categories are given by slug, e.g. {known})"
BAD_CURRENCY = "“{value}” is not a three-letter ISO 4217 currency code, e.g. USD"
BAD_FLAG = "“{value}” is not yes or no (also accepted: true/false, 1/0; empty means no)"

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
IMPORT_HAS_ERRORS = "Nothing was imported: {count} row(s) have errors. Correct them and upload the file again."
EXPORT_TOO_LARGE = (
    "This export would have more than {limit:,} rows: filter the list first (the export takes the list's filters "
    "and search)."
)
