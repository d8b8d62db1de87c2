"""Bulk files are bounded while they stream: decompressed size and line length. A file past a limit is refused as
a whole, naming the limit and the line, and nothing is written; a gzip bomb costs no memory."""

from __future__ import annotations

import gzip
import os
import re
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from ingestion.engine import load
from ingestion.models import ImportJob
from partnerships.models import DailyMetric
from tests.ingestion.test_ingest import _media_and_eager_tasks, ingest, metric_row, refused_file, write_file
from tests.partnerships.factories import PartnerFactory
from tests.processes import ROOT, child_database_url

MiB = 1 << 20
PEAK_LIMIT_MB = 200
__all__ = ["_media_and_eager_tasks"]  # the same scratch media and eager tasks as the other ingestion tests


@pytest.fixture
def partners(db):
    return [PartnerFactory(handle=handle) for handle in ("alice", "bob", "carol")]


def test_a_line_past_the_line_limit_refuses_the_file_naming_the_line_and_the_limit(
        partners, tmp_path, settings, monkeypatch):
    monkeypatch.setattr(load, "STAGE_BATCH_ROWS", 1)  # good rows are staged before the long line
    settings.INGEST_MAX_LINE_BYTES = 200
    rows = [metric_row("alice"), metric_row("bob"), ["carol", "x" * 300, 1, 1, 1, 1, 1, 1, 1]]
    job = refused_file(write_file(tmp_path, rows))
    assert job.message == ("Line 4 is longer than 200 bytes (the limit INGEST_MAX_LINE_BYTES): the file is not the "
                           "expected CSV. Nothing was loaded.")


def test_a_line_at_the_limit_loads(partners, tmp_path, settings):
    path = write_file(tmp_path, [metric_row("alice")])
    settings.INGEST_MAX_LINE_BYTES = max(len(line) for line in Path(path).read_bytes().split(b"\n"))
    job = ingest(path)
    assert (job.status, job.rows_loaded) == (ImportJob.Status.SUCCEEDED, 1)


def test_a_gzip_file_past_the_decompressed_limit_is_refused_as_a_whole(partners, tmp_path, settings):
    settings.INGEST_MAX_DECOMPRESSED_BYTES = 10_000
    path = write_file(tmp_path, [metric_row(handle) for handle in ("alice", "bob", "carol")] * 200, compress=True)
    assert os.path.getsize(path) < 10_000
    with gzip.open(path) as text:
        line = text.read(10_000).count(b"\n") + 1  # the line holding the 10,001st byte
    job = refused_file(path)
    assert job.message == (f"The file holds more than 10,000 bytes of text once decompressed (the limit "
                           f"INGEST_MAX_DECOMPRESSED_BYTES), passed at line {line}: split it into smaller files. "
                           f"Nothing was loaded.")


# --- the bomb: ~0.5 MB of gzip holding one 512 MiB line ---------------------------------------------

def gzip_bomb(path: Path, line_mib: int = 512) -> Path:
    """Written by streaming, so the test itself holds one MiB at a time."""
    chunk = b"a" * MiB
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(b"handle,date,views,qualified_views,likes,comments,shares,followers,posts\n")
        for _ in range(line_mib):
            out.write(chunk)
        out.write(b"\n")
    return path


def child_database(tmp_path: Path) -> str:
    """The test database for a child process: PostgreSQL's by URL; SQLite's (in memory) copied to a file."""
    if connection.vendor == "postgresql":
        return child_database_url()
    connection.ensure_connection()
    target = tmp_path / "child.sqlite3"
    with sqlite3.connect(target) as copy:
        connection.connection.backup(copy)
    return f"sqlite:///{target}"


# Runs the command as its own child and reports that child's peak resident memory (ru_maxrss is in KiB on Linux).
PEAK_OF_CHILD = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:])\n"
    "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(done.returncode)\n"
)


def limit_address_space() -> None:  # a safety net: a regression fails with MemoryError instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


@pytest.mark.django_db(transaction=True)
def test_a_gzip_bomb_with_one_512_mib_line_is_refused_with_little_memory(tmp_path):
    bomb = gzip_bomb(tmp_path / "bomb.csv.gz")
    assert bomb.stat().st_size < 1 * MiB
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(DJANGO_SETTINGS_MODULE="config.settings_test", DATABASE_URL=child_database(tmp_path),
               MEDIA_ROOT=str(tmp_path / "media"))

    done = subprocess.run([sys.executable, "-c", PEAK_OF_CHILD, sys.executable, "manage.py", "ingest_metrics",
                           str(bomb)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit_address_space)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Line 2 is longer than 64 KiB (the limit INGEST_MAX_LINE_BYTES)" in done.stdout + done.stderr
    peak_mb = int(re.search(r"PEAK_KIB (\d+)", done.stdout)[1]) / 1024
    print(f"peak RSS of manage.py ingest_metrics on the bomb: {peak_mb:.0f} MB")
    assert peak_mb < PEAK_LIMIT_MB
    if connection.vendor == "postgresql":  # the child wrote to this database: its job failed, no metric
        assert ImportJob.objects.get().status == ImportJob.Status.FAILED
    assert not DailyMetric.objects.exists()
