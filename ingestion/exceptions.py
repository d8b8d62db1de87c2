"""Errors of bulk ingestion. Messages are constants so tests and callers can rely on them."""


class IngestionError(Exception):
    """Base class: a request that ingestion refuses. Its message is meant for the person who asked."""


class IngestFailed(IngestionError):
    """The whole file is refused (empty, unreadable, a column missing): nothing was loaded."""


class NotPermitted(IngestionError):
    pass


class IngestCancelled(IngestionError):
    """Someone stopped the job before its merge: nothing was loaded."""


JOB_NOT_PERMITTED = "{user} may not load {kind} files: it needs the permission “{permission}”."
JOB_CANCELLED = "Stopped by {user} after {rows:,} rows read, before anything was written: nothing was loaded."
JOB_CANCELLED_QUEUED = "Stopped by {user} before it started: nothing was loaded."
JOB_STOP_REQUESTED = (
    "Stop requested: the load stops at its next step and writes nothing. A load already writing its rows "
    "finishes (its writing is one transaction)."
)
JOB_BEING_WRITTEN = "The load is writing its rows now (one transaction): it cannot be stopped and ends in a moment."
JOB_ALREADY_FINISHED = "This job has already ended ({state}): there is nothing to stop."
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
DUPLICATE_LINE = "duplicate of line {first}: the same {key} appears more than once in the file"
UNKNOWN_CATEGORY = "unknown category: {slugs} (categories are given by slug, e.g. {known})"
BAD_CURRENCY = "“{value}” is not a three-letter ISO 4217 currency code, e.g. USD"
BAD_FLAG = "“{value}” is not yes or no (also accepted: true/false, 1/0; empty means no)"
