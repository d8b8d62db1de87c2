"""A CSV file read as a stream: plain or gzip-compressed (recognised by its first bytes, not its name), decoded
as UTF-8 without ever loading the file in memory.

Bytes that are not UTF-8 do not stop the reading: they are kept as "surrogateescape" characters, so the row
that holds them is refused with its row number and the bytes, and the other rows still load. A file that is
not CSV at all (UTF-16, a broken gzip stream, a field longer than the csv module allows) stops the load."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import itertools
import os
import zlib
from collections.abc import Iterator

from django.core.files.storage import default_storage

from partnerships.exceptions import (
    FILE_EMPTY,
    FILE_HEADER_NOT_UTF8,
    FILE_NOT_CSV,
    FILE_NOT_READABLE,
    FILE_UTF16,
    IngestFailed,
)
from partnerships.ingest.fields import undecodable_bytes

GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
READ_BUFFER = 1 << 20


class CsvSource:
    """The header, then the file's text in blocks of whole lines (``block``); ``record`` reads one CSV record,
    which may span lines, taking continuation lines from a given iterator.

    Blocks and lines rather than records, so that clean blocks can be checked and copied as they are (see
    engine.Ingestion._load) and only unusual lines pay for the csv module. ``bytes_read`` tells how far into
    the (compressed) file the reading is, for the progress bar."""

    def __init__(self, raw, size: int):
        self._raw = raw
        self.size = size
        head = raw.read(4)
        raw.seek(0)
        if not head:
            raise IngestFailed(FILE_EMPTY)
        if head[:2] in UTF16_BOMS:
            raise IngestFailed(FILE_UTF16)
        binary = gzip.GzipFile(fileobj=raw, mode="rb") if head[:2] == GZIP_MAGIC else raw
        self.lines = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
        self.header_lines = 0
        self.header = self._read_header()
        self._carry = ""  # the start of a line whose end is not read yet

    def bytes_read(self) -> int:
        try:
            return min(self._raw.tell(), self.size)
        except (OSError, ValueError):
            return 0

    def block(self, size: int) -> str:
        """About ``size`` characters of whole lines (the last line of the file may lack its line break); empty at
        the end of the file."""
        while True:
            text = self.lines.read(size)
            if not text:
                rest, self._carry = self._carry, ""
                return rest
            text = self._carry + text
            cut = text.rfind("\n") + 1
            if cut:
                self._carry = text[cut:]
                return text[:cut]
            self._carry = text  # a line longer than size: read on

    def more_lines(self) -> Iterator[str]:
        """The lines after the last block, one by one (a quoted value may go on past a block's end)."""
        if self._carry:
            rest, self._carry = self._carry, ""
            yield rest + self.lines.readline()
        yield from self.lines

    def record(self, first: str, line: int, more: Iterator[str] | None = None) -> tuple[list[str], int]:
        """The CSV record that starts with ``first``, line ``line`` of the file (continuation lines are taken from
        ``more``, by default the rest of the file), and how many lines it took."""
        reader = csv.reader(itertools.chain((first,), self.lines if more is None else more))
        try:
            values = next(reader, [])
        except csv.Error as exc:
            raise IngestFailed(FILE_NOT_CSV.format(line=line + max(reader.line_num - 1, 0), error=exc)) from exc
        return values, reader.line_num

    def _read_header(self) -> list[str]:
        with reading():
            for line in self.lines:
                values, used = self.record(line, self.header_lines + 1)
                self.header_lines += used
                if any(value.strip() for value in values):
                    break
            else:
                raise IngestFailed(FILE_EMPTY)
        bad = undecodable_bytes("".join(values))
        if bad:
            raise IngestFailed(FILE_HEADER_NOT_UTF8.format(bytes=bad))
        return [value.strip().lower() for value in values]


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """Decompression errors surface wherever the stream is read: a truncated or corrupt gzip file."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestFailed(FILE_NOT_READABLE.format(error=exc)) from exc


@contextlib.contextmanager
def open_source(path: str) -> Iterator[CsvSource]:
    """An absolute path is a file on this machine (the command's argument); anything else is a name in the
    default storage (an upload)."""
    try:
        if os.path.isabs(path):
            raw = open(path, "rb", buffering=READ_BUFFER)  # noqa: SIM115 (closed below)
            size = os.fstat(raw.fileno()).st_size
        else:
            raw = default_storage.open(path, "rb")
            size = default_storage.size(path)
    except OSError as exc:
        raise IngestFailed(FILE_NOT_READABLE.format(error=exc.strerror or exc)) from exc
    try:
        yield CsvSource(raw, size)
    finally:
        raw.close()
