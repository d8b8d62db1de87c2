"""What the admin's import preview shows when a file has problems, and the file kept for a retry.

Problems: one row per problem with the line as the spreadsheet numbers it (the header is line 1, so the first
data row is line 2; blank lines a reader skips still count, for CSV and XLSX alike), the column, the value as
the file gave it (shortened) and the reason. The formats record each data row's line when they read a file
(core.spreadsheets); django-import-export numbers data rows 1, 2, 3… without blank lines, which is not what
people see in their spreadsheet.

The kept file: a browser cannot fill a file input again, so after a failed preview the uploaded file is kept in
storage for a retry (at most KEPT_UPLOAD_MAX_BYTES, for KEPT_UPLOAD_SECONDS), named in the user's session with a
random token and per model, one file each: "Retry with the same file" posts the token instead of the file.
Another session, a stale token or an expired file gives nothing back."""

from __future__ import annotations

import csv
import io
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest

SHOWN_VALUE_CHARACTERS = 80
SHOWN_PROBLEMS = 1_000
KEPT_UPLOAD_SECONDS = 60 * 60
KEPT_UPLOAD_MAX_BYTES = 20 << 20
KEPT_UPLOAD_DIRECTORY = "import-retry"
KEPT_FIELD = "kept_file"
SESSION_KEY = "kept_imports"

KEPT_UPLOAD_GONE = "The kept file is no longer available (it is kept for an hour): choose the file again."


@dataclass(frozen=True)
class ImportProblem:
    line: int | None  # None: the whole file
    column: str
    value: str
    reason: str


def shown_value(value: Any) -> str:
    """A value as the preview shows it: text on one line, at most SHOWN_VALUE_CHARACTERS characters. Cut before
    the template escapes it, so an escape sequence is never cut in half."""
    text = "" if value is None else str(value)
    text = " ".join(text.split()) if ("\n" in text or "\r" in text or "\t" in text) else text
    if len(text) > SHOWN_VALUE_CHARACTERS:
        text = text[: SHOWN_VALUE_CHARACTERS - 1] + "…"
    return text


def csv_data_lines(text: str) -> list[int]:
    """The spreadsheet line of each data row tablib keeps from this CSV text: the header is the first record
    (line 1) and a blank record is skipped by tablib but still a line of the spreadsheet."""
    lines = []
    for index, record in enumerate(csv.reader(io.StringIO(text, newline=""))):
        if index and record:
            lines.append(index + 1)
    return lines


def spreadsheet_line(lines: list[int] | None, number: int) -> int:
    """The spreadsheet line of data row ``number`` (1-based), from the lines its format recorded."""
    if lines and 0 < number <= len(lines):
        return lines[number - 1]
    return number + 1


def _value(dataset: Any, number: int, column: str) -> str:
    headers = list(dataset.headers or [])
    if not 0 < number <= len(dataset):
        return ""
    row = dataset[number - 1]
    values = [row[headers.index(name)] for name in (part.strip() for part in column.split(",")) if name in headers]
    return shown_value(", ".join("" if value is None else str(value) for value in values))


def import_problems(result: Any, dataset: Any, columns: dict[str, str]) -> list[ImportProblem]:
    """Every problem of a django-import-export result, by line: the whole file's first, then each row's in line
    order. ``columns`` maps a resource field's attribute to its column in the file."""
    lines = getattr(dataset, "spreadsheet_lines", None)
    problems = [ImportProblem(None, "", "", str(error.error)) for error in result.base_errors]
    by_row: list[tuple[int, int, ImportProblem]] = []
    for order, row in enumerate(result.invalid_rows):
        line = spreadsheet_line(lines, row.number)
        for key, reasons in row.error_dict.items():
            whole_row = key == NON_FIELD_ERRORS or (key == "row" and "row" not in (dataset.headers or []))
            column = "" if whole_row else columns.get(key, key)
            value = _value(dataset, row.number, column) if column else ""
            by_row += [(line, order, ImportProblem(line, column, value, str(reason))) for reason in reasons]
    for number, errors in result.row_errors():
        line = spreadsheet_line(lines, number)
        by_row += [(line, -1, ImportProblem(line, "", "", str(error.error))) for error in errors]
    by_row.sort(key=lambda item: (item[0], item[1]))
    return problems + [problem for _, _, problem in by_row]


# --- the file kept for a retry -----------------------------------------------------------------------

@dataclass(frozen=True)
class KeptUpload:
    token: str
    name: str
    size: int
    expires: float


def _entries(request: HttpRequest) -> dict[str, dict[str, Any]]:
    return dict(request.session.get(SESSION_KEY, {}))


def _drop(request: HttpRequest, entries: dict[str, dict[str, Any]], key: str) -> None:
    entry = entries.pop(key, None)
    if entry is not None:
        default_storage.delete(entry["path"])
    request.session[SESSION_KEY] = entries


def kept_upload_save(request: HttpRequest, *, key: str, upload: Any) -> KeptUpload | None:
    """Keep an uploaded file for a retry of the import ``key`` (the model's label), replacing the file kept
    before. None when it is too large to keep."""
    entries = _entries(request)
    now = time.time()
    for stale in [name for name, entry in entries.items() if entry["expires"] < now or name == key]:
        _drop(request, entries, stale)
    if upload is None or not upload.size or upload.size > KEPT_UPLOAD_MAX_BYTES:
        return None
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    token = secrets.token_urlsafe(16)
    path = default_storage.save(f"{KEPT_UPLOAD_DIRECTORY}/{token}", ContentFile(data))
    kept = KeptUpload(token=token, name=str(upload.name)[:255], size=len(data), expires=now + KEPT_UPLOAD_SECONDS)
    entries[key] = {"token": token, "path": path, "name": kept.name, "size": kept.size, "expires": kept.expires}
    request.session[SESSION_KEY] = entries
    return kept


def kept_upload_open(request: HttpRequest, *, key: str, token: str) -> SimpleUploadedFile | None:
    """The file kept for ``key`` if ``token`` names it, in this session, before it expires."""
    entries = _entries(request)
    entry = entries.get(key)
    # bytes: compare_digest refuses str with non-ASCII characters, and the token is whatever was posted
    if entry is None or not secrets.compare_digest(str(entry["token"]).encode(), str(token).encode()):
        return None
    if entry["expires"] < time.time() or not default_storage.exists(entry["path"]):
        _drop(request, entries, key)
        return None
    with default_storage.open(entry["path"], "rb") as stored:
        return SimpleUploadedFile(entry["name"], stored.read())


def kept_upload_discard(request: HttpRequest, *, key: str) -> None:
    entries = _entries(request)
    if key in entries:
        _drop(request, entries, key)
