"""XLSX uploads are bounded before anything is parsed: the zip's unzipped size, its compression ratios and its
number of parts, then the worksheets' rows, cells per row and cell lengths. A bomb is refused on the import page
with a message naming the limit, nothing is written, and refusing it costs little memory."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from collections.abc import Callable, Iterable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core import spreadsheets
from core.files import XLSX_TOO_LARGE, XLSX_TOO_MANY_COLUMNS, XLSX_TOO_MANY_PARTS, XLSX_TOO_MANY_ROWS
from core.spreadsheets import SafeXLSX, SpreadsheetTooLarge
from partnerships.models import DailyMetric
from tests.partnerships.factories import PartnerFactory
from tests.partnerships.test_import_export import (
    HEADER,
    XLSX_FORMAT,
    confirm,
    metric,
    preview,
    xlsx_bytes,
)

pytestmark = pytest.mark.usefixtures("media_and_eager_tasks", "empty_cache")  # as test_import_export
MiB = 1 << 20
PEAK_LIMIT = 100 * MiB
SHEET = "xl/worksheets/sheet1.xml"
SHEET_START = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
               b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')


def rebuilt(base: bytes, parts: dict[str, Callable[[], Iterable[bytes]]]) -> bytes:
    """A copy of the workbook ``base`` with some parts replaced by streamed content (the test holds a chunk)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as source, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            if info.filename not in parts:
                target.writestr(info, source.read(info))
        for name, chunks in parts.items():
            with target.open(name, "w", force_zip64=True) as part:
                for chunk in chunks():
                    part.write(chunk)
    return out.getvalue()


def one_huge_shared_string(mib: int = 200) -> Callable[[], Iterable[bytes]]:
    def chunks():
        yield (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
               b'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>')
        for _ in range(mib):
            yield b"a" * MiB
        yield b"</t></si></sst>"
    return chunks


def empty_cells_in_one_row(count: int) -> Callable[[], Iterable[bytes]]:
    def chunks():
        yield SHEET_START + b'<sheetData><row r="1">'
        for _ in range(count // 100_000):
            yield b"<c/>" * 100_000
        yield b"</row></sheetData></worksheet>"
    return chunks


def sheet(rows: Iterable[bytes], dimension: bytes = b"") -> Callable[[], Iterable[bytes]]:
    def chunks():
        yield SHEET_START + dimension + b"<sheetData>"
        yield from rows
        yield b"</sheetData></worksheet>"
    return chunks


def inline_row(number: int, values: list) -> bytes:
    cells = b"".join(
        f'<c r="{chr(65 + index)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'.encode()
        if isinstance(value, str) else f'<c r="{chr(65 + index)}{number}"><v>{value}</v></c>'.encode()
        for index, value in enumerate(values))
    return f'<row r="{number}">'.encode() + cells + b"</row>"


def inspected(content: bytes, limit: int = 50_000) -> tuple[list[str], int, int]:
    """What the import form's check finds, and the peak of memory allocated while it looked."""
    tracemalloc.start()
    try:
        header, rows = SafeXLSX().inspect(SimpleUploadedFile("bomb.xlsx", content), limit=limit)
        return header, rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused(content: bytes) -> tuple[str, int]:
    tracemalloc.start()
    try:
        with pytest.raises(SpreadsheetTooLarge) as refusal:
            SafeXLSX().inspect(SimpleUploadedFile("bomb.xlsx", content), limit=50_000)
        peak = tracemalloc.get_traced_memory()[1]
        print(f"peak of the refusal: {peak / MiB:.1f} MiB")
        return str(refusal.value), peak
    finally:
        tracemalloc.stop()


class unzipped:  # noqa: N801 (reads like a function: len(unzipped(bomb)))
    """The sum of a zip's declared unzipped sizes."""

    def __init__(self, content: bytes):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            self.size = sum(info.file_size for info in archive.infolist())

    def __len__(self) -> int:
        return self.size


@pytest.fixture(scope="module")
def base() -> bytes:
    return xlsx_bytes([metric("alice")])


def test_one_huge_shared_string_is_refused_by_its_unzipped_size_before_parsing(base):
    bomb = rebuilt(base, {"xl/sharedStrings.xml": one_huge_shared_string(200)})
    assert len(bomb) < 1 * MiB

    message, peak = refused(bomb)

    assert message == XLSX_TOO_LARGE.format(size=f"{len(unzipped(bomb)):,} bytes", limit="50 MiB")
    assert peak < PEAK_LIMIT, f"peak {peak / MiB:.0f} MiB"


def test_a_million_empty_cells_are_refused_by_the_compression_ratio(base):
    bomb = rebuilt(base, {SHEET: empty_cells_in_one_row(5_000_000)})
    message, peak = refused(bomb)
    assert message.startswith(f"The part {SHEET} of this XLSX file unzips to ")
    assert peak < PEAK_LIMIT


def test_empty_cells_that_compress_plausibly_are_refused_while_streaming(base, monkeypatch):
    monkeypatch.setattr(spreadsheets, "XLSX_MAX_RATIO", 10**9)  # as if the bomb had been made less compressible
    bomb = rebuilt(base, {SHEET: empty_cells_in_one_row(5_000_000)})
    message, peak = refused(bomb)
    assert message == XLSX_TOO_MANY_COLUMNS.format(row=1, limit=spreadsheets.XLSX_MAX_COLUMNS)
    assert peak < PEAK_LIMIT, f"peak {peak / MiB:.0f} MiB"


def test_a_cell_at_the_last_row_is_refused_by_the_row_count(base):
    bomb = rebuilt(base, {SHEET: sheet([inline_row(1, HEADER), inline_row(1_048_576, metric("alice"))])})
    message, peak = refused(bomb)
    assert message == XLSX_TOO_MANY_ROWS.format(limit=100_001)
    assert peak < PEAK_LIMIT, f"peak {peak / MiB:.0f} MiB"


def test_a_declared_dimension_of_the_whole_grid_reads_only_the_real_cells(base):
    content = rebuilt(base, {SHEET: sheet([inline_row(1, HEADER), inline_row(2, metric("alice"))],
                                          dimension=b'<dimension ref="A1:XFD1048576"/>')})
    header, rows, peak = inspected(content)
    assert (header, rows) == (HEADER, 1)
    dataset = SafeXLSX().create_dataset(content)
    assert dataset.headers == HEADER
    assert dataset.height == 1
    assert peak < PEAK_LIMIT


def test_too_many_parts_are_refused(base):
    parts = {f"xl/media/image{index}.png": (lambda: [b"x"]) for index in range(spreadsheets.XLSX_MAX_PARTS)}
    bomb = rebuilt(base, parts)
    message, _ = refused(bomb)
    count = len(zipfile.ZipFile(io.BytesIO(bomb)).namelist())
    assert message == XLSX_TOO_MANY_PARTS.format(count=count, limit=spreadsheets.XLSX_MAX_PARTS)


def test_the_import_page_refuses_the_bomb_with_the_limit_and_writes_nothing(client, manager, base):
    PartnerFactory(handle="alice")
    client.force_login(manager)
    bomb = rebuilt(base, {"xl/sharedStrings.xml": one_huge_shared_string(200)})

    response = preview(client, DailyMetric, bomb, name="bomb.xlsx", fmt=XLSX_FORMAT)

    assert response.status_code == 200
    [error] = response.context["form"].errors["import_file"]
    assert error == XLSX_TOO_LARGE.format(size=f"{len(unzipped(bomb)):,} bytes", limit="50 MiB")
    assert "result" not in response.context
    assert not DailyMetric.objects.exists()


def test_a_plain_xlsx_still_imports(client, manager):
    PartnerFactory(handle="alice")
    client.force_login(manager)
    response = preview(client, DailyMetric, xlsx_bytes([metric("alice")]), name="m.xlsx", fmt=XLSX_FORMAT)
    assert response.status_code == 200
    confirm(client, DailyMetric, response)
    assert DailyMetric.objects.count() == 1

