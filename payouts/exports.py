"""CSV that a spreadsheet opens safely: cells that would run as a formula are neutralised, numbers stay
numbers and empty stays empty."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

# One sanitiser for every export of the back-office, CSV streams here and the admin's CSV/XLSX exports.
from core.spreadsheets import FORMULA_STARTS, safe_cell  # noqa: F401 (re-exported)


class _Echo:
    def write(self, value: str) -> str:
        return value


def write_csv(stream, header: list[str], rows: Iterable[list]) -> int:
    writer = csv.writer(stream)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        count += 1
    return count


def csv_response(filename: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([safe_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
