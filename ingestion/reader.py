"""A CSV file read as a stream: plain or gzip-compressed (recognised by its first bytes, not its name), decoded
as UTF-8 without ever loading the file in memory.

Bytes that are not UTF-8 do not stop the reading: they are kept as "surrogateescape" characters, so the row
that holds them is refused with its row number and the bytes, and the other rows still load. A file that is
not CSV at all (UTF-16, a broken gzip stream, a field longer than the csv module allows) stops the load.

The text is bounded while it streams (``BoundedBytes``): a file whose decompressed text passes
``INGEST_MAX_DECOMPRESSED_BYTES`` or with a line longer than ``INGEST_MAX_LINE_BYTES`` stops the load as a whole,
naming the limit and the line, after at most one chunk more than the limit was decompressed (a 500 KB gzip file
can hold a 512 MiB line: memory follows the longest line unless it is checked before the line is assembled)."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import itertools
import os
import zlib
from collections.abc import Iterator
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from core.files import (
    FILE_EMPTY,
    FILE_HEADER_NOT_UTF8,
    FILE_LINE_TOO_LONG,
    FILE_NOT_CSV,
    FILE_NOT_READABLE,
    FILE_TOO_LARGE,
    FILE_UTF16,
    size_text,
)
from ingestion.exceptions import IngestFailed
from ingestion.fields import undecodable_bytes

GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
READ_BUFFER = 1 << 20




class BoundedBytes(io.RawIOBase):
    """The decompressed bytes of a file, read in chunks no longer than the line limit, refusing the file as soon
    as its text passes ``max_bytes`` or one of its lines passes ``max_line`` bytes (the line break not counted).

    Chunks no longer than the line limit mean a line wholly inside one chunk is within the limit; only the line
    that runs on from the previous chunk needs counting, so the check costs a few C-level searches per chunk."""

    def __init__(self, source, *, max_bytes: int, max_line: int):
        self._source = source
        self.max_bytes, self.max_line = max_bytes, max_line
        self._chunk = max(1, min(max_line, READ_BUFFER))
        self.total = 0
        self.line = 1  # the line being read
        self._line_length = 0  # bytes of that line read so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(min(len(buffer), self._chunk))
        if not data:
            return 0
        self.total += len(data)
        if self.total > self.max_bytes:
            within = self.max_bytes - (self.total - len(data))  # the chunk's bytes still within the limit
            line = self.line + data.count(b"\n", 0, within)
            raise IngestFailed(FILE_TOO_LARGE.format(limit=size_text(self.max_bytes), line=line))
        first = data.find(b"\n")
        if first < 0:
            self._line_length += len(data)
        else:
            self._line_length += first
        if self._line_length > self.max_line:
            raise IngestFailed(FILE_LINE_TOO_LONG.format(line=self.line, limit=size_text(self.max_line)))
        if first >= 0:
            self.line += data.count(b"\n")
            self._line_length = len(data) - data.rfind(b"\n") - 1
        buffer[: len(data)] = data
        return len(data)


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
        bounded = BoundedBytes(binary, max_bytes=settings.INGEST_MAX_DECOMPRESSED_BYTES,
                               max_line=settings.INGEST_MAX_LINE_BYTES)
        self.lines = io.TextIOWrapper(io.BufferedReader(bounded, READ_BUFFER), encoding="utf-8-sig",
                                      errors="surrogateescape", newline="")
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
    raw: IO[bytes] | File[bytes]  # a file of this machine, or the storage's
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
