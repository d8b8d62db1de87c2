"""Ingestion benchmark: a day of daily metrics for 1,000,000 partners, loaded by the project beside a hand-written
baseline and the bare COPY limit, in the same run; and the admin's spreadsheet import of 10,000 rows beside
django-import-export's default resource for the same model.

Run by hand from the project root against a local PostgreSQL (never in CI):

    .venv/bin/python bench/ingest.py                    # (re)create the database, load it, measure
    .venv/bin/python bench/ingest.py --reuse            # keep a database already loaded with the same size
    nohup .venv/bin/python bench/ingest.py > bench/results/ingest-run.log 2>&1 &    # it takes ~15 minutes

Options: --server (default postgres://postgres@127.0.0.1:5432), --db (default cp_bench_ingest), --rows
(default 1,000,000), --small-rows (200,000: the memory comparison), --admin-rows (10,000), --runs (timed
repetitions of each path, default 3), --max-wait (seconds to wait for a quiet machine before each timing,
default 900).

What it measures, in the same run and on the same database (1,000,000 partners; the metrics table emptied
and a CHECKPOINT before every timing; the order of the paths alternates between repetitions):

1. project: partnerships.ingest_metrics.daily_metrics_ingest on a generated CSV of --rows rows (one day, every
   partner), in a Django worker process: streaming read, validation of every row in Python, COPY into the
   staging table, the set-based checks, the merge into partnerships_dailymetric. Statistics are refreshed
   after a load in production; here they are timed apart (a full, set-based refresh), not inside the load.
   The worker reports its peak RSS (VmHWM), at --small-rows and at --rows rows: memory must stay flat.
2. baseline: hand-written with psycopg: CREATE UNLOGGED TABLE, COPY the file's bytes into it (FORMAT csv: the
   server parses), one INSERT ... SELECT ... JOIN partners ... ON CONFLICT (partner_id, day) DO UPDATE into
   the same table, COMMIT; the same session work_mem as the project's staging session. No validation. Twice: into
   the project's table (partitioned by month), and into the table as it was before it was partitioned (``plain``:
   one table, Django's deferred foreign key to partners), the baseline issue 18's target names.
3. limit: a bare COPY of the same file into an unindexed (logged) table.
4. admin import, --admin-rows new rows: django-import-export's preview (dry run) then confirmation, i.e.
   Resource.import_data(dry_run=True) then import_data(dry_run=False) with the admin's arguments, including
   parsing the upload into a dataset; the project's DailyMetricResource (handles) against
   modelresource_factory(DailyMetric) (the default resource; its file names partners by id, as it needs).
   Also the project's full admin path through the admin views (upload + preview page + confirm), for scale.

Targets: project throughput at least 0.7 times the baseline's; peak RSS flat between the two sizes; the
admin import at least 20 times faster than the default resource. The table is printed and written to
bench/results/ingest.md (git-ignored). Drop the database with
    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE cp_bench_ingest'
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench.harness import connect, log  # noqa: E402
from bench.ingest_report import COUNTS, DAY, HEADER, render  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "ingest.md"
LOAD_VERSION = 1
PLAIN_TABLE = "bench_dailymetric_unpartitioned"
WORK_MEM = "256MB"  # ingestion.engine.stage.STAGE_WORK_MEM: the baseline gets the same session setting
QUIET_QUERY_SECONDS, QUIET_CPU_BUSY, QUIET_SAMPLES = 2, 0.25, 5  # 5 samples of 3 s: 15 s of quiet
COPY_CHUNK = 1 << 20


# --- helpers -----------------------------------------------------------------------------------------

def wait_quiet(server_url: str, max_wait: float) -> dict:
    """Wait until, for QUIET_SAMPLES samples of 3 s, the CPUs were mostly idle and no other backend had an
    active query older than 2 s (another benchmark or test suite may be running on this machine)."""
    started, quiet = time.monotonic(), 0
    busy = 1.0
    while True:
        busy = harness.cpu_busy(3)
        with connect(server_url + "/postgres") as conn:
            long = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
                "AND now() - query_start > make_interval(secs => %s)", [QUIET_QUERY_SECONDS]).fetchone()[0]
        quiet = quiet + 1 if busy < QUIET_CPU_BUSY and long == 0 else 0
        waited = time.monotonic() - started
        if quiet >= QUIET_SAMPLES:
            return {"waited": round(waited), "quiet": True, "cpu_busy": round(busy, 2)}
        if waited > max_wait:
            log(f"  machine not quiet after {waited:.0f} s (CPU busy {busy:.0%}); measuring anyway")
            return {"waited": round(waited), "quiet": False, "cpu_busy": round(busy, 2)}


def reset_table(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute(f"TRUNCATE partnerships_dailymetric, partnerships_partnerstatistics, "
                     f"partnerships_monthlymetricrollup, partnerships_statisticschange, {PLAIN_TABLE}")
        conn.execute("CHECKPOINT")


def prepare_plain_table(db_url: str) -> None:
    """The daily metrics table as it was before it was partitioned (migration 0021), as Django made it: one table,
    primary key id, unique (partner_id, day), an index on partner_id, the CHECK constraints and the deferred foreign
    key to partners. Issue 18's target compares the project's load with the baseline into this table."""
    with connect(db_url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PLAIN_TABLE}")
        conn.execute(f"CREATE TABLE {PLAIN_TABLE} (LIKE partnerships_dailymetric INCLUDING DEFAULTS "
                     "INCLUDING CONSTRAINTS INCLUDING IDENTITY)")
        conn.execute(f"ALTER TABLE {PLAIN_TABLE} ADD PRIMARY KEY (id)")
        conn.execute(f"ALTER TABLE {PLAIN_TABLE} ADD UNIQUE (partner_id, day)")
        conn.execute(f"CREATE INDEX ON {PLAIN_TABLE} (partner_id)")
        conn.execute(f"ALTER TABLE {PLAIN_TABLE} ADD FOREIGN KEY (partner_id) REFERENCES partnerships_partner (id) "
                     "DEFERRABLE INITIALLY DEFERRED")


def worker_env(db_url: str, media: str) -> dict:
    return harness.django_environment(db_url, "bench-only", MEDIA_ROOT=media, CELERY_BROKER_URL="",
                                      ALLOWED_HOSTS="testserver")


def run_worker(db_url: str, media: str, phase: str, *args: str) -> dict:
    return harness.run_worker(__file__, worker_env(db_url, media), phase, *args, quiet=True)


# --- setup ---------------------------------------------------------------------------------------------

def prepare_database(server: str, name: str, partners: int, reuse: bool, media: str) -> str:
    db_url = f"{server}/{name}"

    def load() -> dict:
        log(f"loading {partners:,} partners")
        started = time.perf_counter()
        with connect(db_url) as conn:
            conn.execute("SET synchronous_commit = off")
            conn.execute(
                "INSERT INTO partnerships_partner (kind, handle, display_name, country, age_verified, status, "
                "status_reason, tax_form_on_file, identity_verified, opted_into_brand_deals, created_at, updated_at) "
                "SELECT 'creator', 'creator' || g, 'Creator ' || g, (ARRAY['US','DE','FR','BR','IN'])[1 + g %% 5], "
                "true, 'active', '', true, true, g %% 3 = 0, now(), now() FROM generate_series(1, %s) g", [partners])
            conn.execute("VACUUM ANALYZE partnerships_partner")
        return {"steps": [{"step": "partners", "seconds": time.perf_counter() - started, "rows": partners}]}

    migrate = lambda: harness.run_manage(worker_env(db_url, media), "migrate", "-v0")  # noqa: E731
    harness.prepare_database(server=server, name=name, spec={"partners": partners, "version": LOAD_VERSION},
                             reuse=reuse, migrate=migrate, load=load)
    return db_url


def generate_metrics(path: Path, rows: int, seed: int = 20261101, day: dt.date = DAY) -> None:
    """One day (``day``) for partners creator1..creatorN, in the pipeline's column order; heavy-tailed audiences."""
    if path.exists():
        return
    log(f"writing {path.name}")
    rng = random.Random(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        iso = day.isoformat()
        for index in range(1, rows + 1):
            views = int(20 / (1 - rng.random()) ** (1 / 1.3)) if rng.random() > 0.08 else 0
            views = min(views, 5_000_000)
            writer.writerow([f"creator{index}", iso, views, views * 7 // 10, views // 12, views // 90, views // 150,
                             rng.randint(100, 3_000_000), rng.randint(0, 4)])


def generate_admin_files(db_url: str, directory: Path, rows: int) -> tuple[Path, Path]:
    """The same rows twice: by handle (the project's resource) and by partner id (the default resource)."""
    by_handle, by_id = directory / f"admin_{rows}_handles.csv", directory / f"admin_{rows}_ids.csv"
    with connect(db_url) as conn:
        ids = dict(conn.execute("SELECT handle, id FROM partnerships_partner WHERE handle = ANY(%s)",
                                [[f"creator{i}" for i in range(1, rows + 1)]]).fetchall())
    rng = random.Random(7)
    with open(by_handle, "w", newline="") as a, open(by_id, "w", newline="") as b:
        handles, ids_writer = csv.writer(a, lineterminator="\n"), csv.writer(b, lineterminator="\n")
        handles.writerow(HEADER)
        ids_writer.writerow(["partner", "day", *COUNTS])
        for index in range(1, rows + 1):
            views = rng.randint(0, 100_000)
            values = [views, views // 2, views // 10, views // 50, views // 100, rng.randint(100, 10**6), 1]
            handles.writerow([f"creator{index}", DAY.isoformat(), *values])
            ids_writer.writerow([ids[f"creator{index}"], DAY.isoformat(), *values])
    return by_handle, by_id


# --- the three load paths ------------------------------------------------------------------------------

def time_baseline(db_url: str, path: Path, table: str = "partnerships_dailymetric") -> dict:
    names = ", ".join(HEADER[:1] + ["day"] + COUNTS)
    started = time.perf_counter()
    with connect(db_url, autocommit=False) as conn:
        conn.execute(f"SET work_mem = '{WORK_MEM}'")
        conn.execute("CREATE UNLOGGED TABLE bench_stage (handle text, day date, views bigint, qualified_views "
                     "bigint, likes bigint, comments bigint, shares bigint, followers bigint, posts bigint)")
        with conn.cursor() as cursor, cursor.copy(f"COPY bench_stage ({names}) FROM STDIN (FORMAT csv, HEADER true)"
                                                  ) as copy, open(path, "rb") as handle:
            while chunk := handle.read(COPY_CHUNK):
                copy.write(chunk)
        copied = time.perf_counter()
        conn.execute(
            f"INSERT INTO {table} (partner_id, day, {', '.join(COUNTS)}) "
            f"SELECT p.id, s.day, {', '.join('s.' + c for c in COUNTS)} FROM bench_stage s "
            f"JOIN partnerships_partner p ON p.handle = s.handle "
            f"ON CONFLICT (partner_id, day) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COUNTS)}")
        conn.commit()
        merged = time.perf_counter()
        conn.execute("DROP TABLE bench_stage")
        conn.commit()
    return {"seconds": merged - started, "copy": copied - started, "merge": merged - copied}


def time_bare_copy(db_url: str, path: Path) -> dict:
    with connect(db_url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bare")
        conn.execute("CREATE TABLE bench_bare (handle text, day date, views bigint, qualified_views bigint, likes "
                     "bigint, comments bigint, shares bigint, followers bigint, posts bigint)")
    started = time.perf_counter()
    with connect(db_url, autocommit=False) as conn:
        with conn.cursor() as cursor, cursor.copy("COPY bench_bare FROM STDIN (FORMAT csv, HEADER true)") as copy, \
                open(path, "rb") as handle:
            while chunk := handle.read(COPY_CHUNK):
                copy.write(chunk)
        conn.commit()
    seconds = time.perf_counter() - started
    with connect(db_url) as conn:
        conn.execute("DROP TABLE bench_bare")
    return {"seconds": seconds}


def count_rows(db_url: str, table: str = "partnerships_dailymetric") -> int:
    with connect(db_url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# --- worker side (a fresh Django process per measurement) ----------------------------------------------

def worker_project(path: str, refresh: bool) -> dict:
    import django

    django.setup()
    from ingestion.engine.load import Ingestion
    from ingestion.jobs import import_job_create
    from ingestion.models import ImportJob
    from partnerships.ingest_metrics import daily_metrics_ingest
    from partnerships.services.statistics import partner_statistics_refresh

    phases: dict = {}
    run = Ingestion.run

    def recording_run(self):
        outcome = run(self)
        phases.update(outcome.seconds)
        return outcome

    Ingestion.run = recording_run
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=Path(path).name, file_path=path)
    rss_before = harness.memory_mb("VmRSS")
    started = time.perf_counter()
    job = daily_metrics_ingest(job_id=job.pk, refresh=False)
    seconds = time.perf_counter() - started
    peak = harness.memory_mb("VmHWM")
    result = {"seconds": seconds, "status": job.status, "processed": job.rows_processed, "loaded": job.rows_loaded,
              "rejected": job.rows_rejected, "phases": phases, "peak_rss_mb": peak, "rss_before_mb": rss_before}
    if refresh:
        started = time.perf_counter()
        result["statistics_partners"] = partner_statistics_refresh(as_of=DAY)
        result["statistics_seconds"] = time.perf_counter() - started
    return result


def worker_admin(by_handle: str, by_id: str) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.test import Client, override_settings
    from import_export.formats.base_formats import CSV
    from import_export.resources import modelresource_factory

    from core.spreadsheets import SafeCSV
    from partnerships.models import DailyMetric
    from partnerships.resources.metrics import DailyMetricResource

    def empty() -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE partnerships_dailymetric")

    def admin_path(resource_class, fmt, path: str, extra: dict) -> float:
        """What the admin runs: parse the upload, preview (dry run), confirm (a fresh resource, real run)."""
        data = Path(path).read_bytes()
        started = time.perf_counter()
        for dry_run in (True, False):
            dataset = fmt(encoding="utf-8-sig").create_dataset(data)
            result = resource_class().import_data(dataset, dry_run=dry_run, raise_errors=False,
                                                  retain_instance_in_row_result=True, **extra)
            # raise_errors=False: a row's exception is kept on the row (row_errors), not raised; report it too.
            problems = ([r.error_dict for r in result.invalid_rows][:3] + [e.error for e in result.base_errors][:3]
                        + [(line, [str(e.error) for e in errors]) for line, errors in result.row_errors()][:3])
            assert not problems, (resource_class.__name__, "dry run" if dry_run else "confirm",
                                  dict(result.totals), problems)
        return time.perf_counter() - started

    def check_count(what: str) -> None:
        count = DailyMetric.objects.count()
        assert count == rows, f"{what}: {count:,} rows in the table after importing {rows:,}"

    rows = Path(by_handle).read_text().count("\n") - 1
    empty()
    ours = admin_path(DailyMetricResource, SafeCSV, by_handle, {"rollback_on_validation_errors": True})
    check_count("project's resource")
    empty()
    default = admin_path(modelresource_factory(DailyMetric), CSV, by_id, {})
    check_count("default resource")
    empty()

    # The project's full path through the admin views: upload, preview page, confirm.
    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True,
                                                                                       "is_superuser": True})
    client = Client()
    client.force_login(user)
    plain_static = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=plain_static):  # no collectstatic manifest in a benchmark checkout
        started = time.perf_counter()
        response = client.post("/admin/partnerships/dailymetric/import/", {
            "resource": "0", "format": "0",
            "import_file": SimpleUploadedFile("metrics.csv", Path(by_handle).read_bytes())}, secure=True)
        assert response.status_code == 200, response.status_code
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', response.content.decode()))
        confirmed = client.post("/admin/partnerships/dailymetric/process_import/", {
            name: hidden.get(name, "") for name in ("import_file_name", "original_file_name", "format", "resource")},
            secure=True)
        views = time.perf_counter() - started
    assert confirmed.status_code == 302, confirmed.status_code
    check_count("admin views")
    empty()
    return {"rows": rows, "project": ours, "default": default, "project_views": views}


# --- the run -------------------------------------------------------------------------------------------

def main() -> None:
    parser = harness.argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="cp_bench_ingest")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=200_000)
    parser.add_argument("--admin-rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-wait", type=float, default=900)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--no-full-refresh", action="store_true",
                        help="skip the full statistics refresh after each project load (timed apart, not in the ratio)")
    parser.add_argument("--worker", choices=["project", "admin"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)  # the worker's file(s), then "refresh" or not
    args = parser.parse_args()

    if args.worker:
        rest = args.files
        result = worker_project(rest[0], refresh=rest[1] == "refresh") if args.worker == "project" else \
            worker_admin(*rest)
        Path(args.out).write_text(json.dumps(result))
        return

    work = Path(tempfile.gettempdir()) / "cp_bench_ingest"
    work.mkdir(exist_ok=True)
    media = str(work / "media")
    db_url = prepare_database(args.server, args.db, args.rows, args.reuse, media)
    big, small = work / f"metrics_{args.rows}.csv", work / f"metrics_{args.small_rows}.csv"
    generate_metrics(big, args.rows)
    generate_metrics(small, args.small_rows)
    by_handle, by_id = generate_admin_files(db_url, work, args.admin_rows)

    prepare_plain_table(db_url)
    results: dict[str, list[dict]] = {"project": [], "baseline": [], "plain": [], "limit": []}
    paths = {
        "project": lambda: run_worker(db_url, media, "project", str(big),
                                      "no-refresh" if args.no_full_refresh else "refresh"),
        "baseline": lambda: time_baseline(db_url, big),
        "plain": lambda: time_baseline(db_url, big, PLAIN_TABLE),
        "limit": lambda: time_bare_copy(db_url, big),
    }
    for repetition in range(args.runs):
        order = ["project", "plain", "baseline", "limit"]
        for name in order if repetition % 2 == 0 else reversed(order):
            reset_table(db_url)
            quiet = wait_quiet(args.server, args.max_wait)
            measured = paths[name]()
            measured["quiet"] = quiet
            if name != "limit":
                measured["rows_in_table"] = count_rows(db_url, PLAIN_TABLE if name == "plain" else
                                                       "partnerships_dailymetric")
                assert measured["rows_in_table"] == args.rows, measured
            results[name].append(measured)
            detail = {key: round(value, 2) for key, value in measured.get("phases", {}).items()}
            log(f"run {repetition + 1} {name}: {measured['seconds']:.2f} s "
                f"({args.rows / measured['seconds']:,.0f} rows/s) {detail or ''}")

    log("re-ingesting the same file (nothing to change) and the small file (memory)")
    reset_table(db_url)
    run_worker(db_url, media, "project", str(big), "no-refresh")
    wait_quiet(args.server, args.max_wait)
    again = run_worker(db_url, media, "project", str(big), "no-refresh")
    reset_table(db_url)
    wait_quiet(args.server, args.max_wait)
    small_run = run_worker(db_url, media, "project", str(small), "no-refresh")
    reset_table(db_url)
    log("admin import")
    wait_quiet(args.server, args.max_wait)
    admin = run_worker(db_url, media, "admin", str(by_handle), str(by_id))

    report = render(args, results, again, small_run, admin)
    print(report)
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(report + "\n\nRaw measurements:\n\n```json\n" + json.dumps(
        {"results": results, "reingest": again, "small": small_run, "admin": admin}, indent=1, default=str)
        + "\n```\n")
    log(f"written to {REPORT_PATH}")


if __name__ == "__main__":
    main()
