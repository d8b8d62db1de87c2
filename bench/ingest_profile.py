"""Where a daily load's time goes (issue 18): one load of daily metrics by the project, every SQL statement it sends
timed (and the commit, where deferred checks run), beside the hand-written COPY + upsert of bench/ingest.py.

Run by hand from the project root against a local PostgreSQL (never in CI):

    .venv/bin/python bench/ingest_profile.py --rows 200000            # its own database of --rows partners
    .venv/bin/python bench/ingest_profile.py --rows 200000 --reuse --day second --explain

Options: --server, --db (default cp_bench_ingest_profile), --rows (partners and rows, default 200,000), --day
(``first``: the table emptied, every row and rollup row new, the worst case; ``second``: the first day of the month
loaded before, so every rollup row is updated), --explain (the plans of statements over 200 ms, from auto_explain,
with their actual times), --reuse. Prints the phases, the statements by time and the baseline's time; writes
nothing else."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench.harness import connect, log  # noqa: E402
from bench.ingest import (  # noqa: E402
    PLAIN_TABLE,
    generate_metrics,
    prepare_database,
    prepare_plain_table,
    time_baseline,
    worker_env,
)
from bench.ingest_report import DAY  # noqa: E402

SECOND_DAY = DAY + dt.timedelta(days=1)


def reset(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("TRUNCATE partnerships_dailymetric, partnerships_monthlymetricrollup, "
                     f"partnerships_partnerstatistics, partnerships_statisticschange, {PLAIN_TABLE}")
        conn.execute(f"VACUUM ANALYZE partnerships_dailymetric, partnerships_monthlymetricrollup, {PLAIN_TABLE}")
        conn.execute("CHECKPOINT")


def worker_load(path: str, explain: str) -> dict:
    import django

    django.setup()
    from django.db import connection

    from ingestion.engine.load import Ingestion
    from ingestion.jobs import import_job_create
    from ingestion.models import ImportJob
    from partnerships.ingest_metrics import daily_metrics_ingest

    statements: list[tuple[float, str]] = []
    plans: list[str] = []
    phases: dict = {}

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - started, " ".join(str(sql).split())[:220]))

    connection.ensure_connection()
    commit = connection.commit

    def timed_commit():
        started = time.perf_counter()
        commit()
        statements.append((time.perf_counter() - started, "COMMIT"))

    connection.commit = timed_commit
    if explain == "explain":
        with connection.cursor() as cursor:
            cursor.execute("LOAD 'auto_explain'")
            for setting in ("log_min_duration = 200", "log_analyze = on", "log_nested_statements = on",
                            "log_level = 'notice'", "log_timing = on", "log_buffers = on"):
                cursor.execute(f"SET auto_explain.{setting}")
        connection.connection.add_notice_handler(lambda diagnostic: plans.append(diagnostic.message_primary))
    run = Ingestion.run

    def recording_run(self):
        outcome = run(self)
        phases.update(outcome.seconds)
        return outcome

    Ingestion.run = recording_run
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=Path(path).name, file_path=path)
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        job = daily_metrics_ingest(job_id=job.pk, refresh=False)
    return {"seconds": time.perf_counter() - started, "status": job.status, "loaded": job.rows_loaded,
            "phases": phases, "statements": sorted(statements, reverse=True)[:25],
            "statement_seconds": sum(seconds for seconds, _ in statements), "plans": plans}


def main() -> None:
    parser = harness.argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="cp_bench_ingest_profile")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--day", choices=["first", "second"], default="first")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--worker", choices=["load"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        Path(args.out).write_text(json.dumps(worker_load(*args.files)))
        return

    work = Path(tempfile.gettempdir()) / "cp_bench_ingest_profile"
    work.mkdir(exist_ok=True)
    media = str(work / "media")
    db_url = prepare_database(args.server, args.db, args.rows, args.reuse, media)
    env = worker_env(db_url, media)
    first, second = work / f"first_{args.rows}.csv", work / f"second_{args.rows}.csv"
    generate_metrics(first, args.rows, day=DAY)
    generate_metrics(second, args.rows, seed=20261102, day=SECOND_DAY)

    prepare_plain_table(db_url)
    reset(db_url)
    if args.day == "second":
        harness.run_worker(__file__, env, "load", str(first), "plain", quiet=True)
        with connect(db_url) as conn:
            conn.execute("VACUUM ANALYZE partnerships_dailymetric, partnerships_monthlymetricrollup")
            conn.execute("CHECKPOINT")
    path = first if args.day == "first" else second
    measured = harness.run_worker(__file__, env, "load", str(path), "explain" if args.explain else "plain",
                                  quiet=True)
    log(f"project: {measured['seconds']:.2f} s, {measured['status']}, {measured['loaded']:,} loaded; phases "
        f"{ {name: round(value, 2) for name, value in measured['phases'].items()} }; statements "
        f"{measured['statement_seconds']:.2f} s")
    for seconds, sql in measured["statements"]:
        print(f"{seconds:8.3f}  {sql}")
    for plan in measured["plans"]:
        print(plan)
    # The baselines on the same state: the first day's rows back when the second day is measured.
    for table in ("partnerships_dailymetric", PLAIN_TABLE):
        reset(db_url)
        if args.day == "second":
            time_baseline(db_url, first, table)
            with connect(db_url) as conn:
                conn.execute(f"VACUUM ANALYZE {table}")
                conn.execute("CHECKPOINT")
        baseline = time_baseline(db_url, path, table)
        log(f"baseline (COPY + upsert) into {table}: {baseline['seconds']:.2f} s (copy {baseline['copy']:.2f}, "
            f"merge {baseline['merge']:.2f}); ratio {baseline['seconds'] / measured['seconds']:.2f}x; load "
            f"average {Path('/proc/loadavg').read_text()[:15]}")


if __name__ == "__main__":
    main()
