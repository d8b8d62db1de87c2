"""Rollup upkeep benchmark (issue 18): what keeping the monthly rollups adds to a daily load of daily metrics.

Run by hand from the project root against a local PostgreSQL (never in CI):

    .venv/bin/python bench/ingest_rollups.py --rows 200000          # its own database of --rows partners
    .venv/bin/python bench/ingest_rollups.py --rows 200000 --reuse  # keep the loaded partners

Options: --server, --db (default cp_bench_rollups), --rows (partners and rows per day, default 1,000,000), --runs
(timed repetitions of each path, default 3), --max-wait (seconds to wait for a quiet machine before each timing).

Each timing starts from the same state: the metrics and rollup tables emptied, then a first day (every partner)
loaded with its rollups, a CHECKPOINT, and a quiet machine; then the second day of the month (every partner: each
load updates every partner's rollup row, the everyday case) is loaded by partnerships.ingest_metrics
.daily_metrics_ingest in a fresh worker process, with the rollups kept (the product) or not (rollups_kept=False,
the comparison). After each load with rollups, the rollups are checked against the daily rows
(metric_rollups_mismatches must be empty). Target: the upkeep adds at most 30% to the load. The report is printed
and written to bench/results/ingest_rollups.md (git-ignored)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench.harness import connect, log  # noqa: E402
from bench.ingest import generate_metrics, prepare_database, wait_quiet, worker_env  # noqa: E402
from bench.ingest_report import DAY  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "ingest_rollups.md"
TARGET_OVERHEAD = 0.30
SECOND_DAY = DAY + dt.timedelta(days=1)


def reset(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("TRUNCATE partnerships_dailymetric, partnerships_monthlymetricrollup, "
                     "partnerships_partnerstatistics")


def checkpoint(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("VACUUM ANALYZE partnerships_dailymetric, partnerships_monthlymetricrollup")
        conn.execute("CHECKPOINT")


# --- worker side (a fresh Django process per measurement) ----------------------------------------------

def worker_load(path: str, mode: str) -> dict:
    import time

    import django

    django.setup()
    from ingestion.engine.load import Ingestion
    from ingestion.jobs import import_job_create
    from ingestion.models import ImportJob
    from partnerships.ingest_metrics import daily_metrics_ingest

    phases: dict = {}
    run = Ingestion.run

    def recording_run(self):
        outcome = run(self)
        phases.update(outcome.seconds)
        return outcome

    Ingestion.run = recording_run
    job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=Path(path).name, file_path=path)
    started = time.perf_counter()
    job = daily_metrics_ingest(job_id=job.pk, refresh=False, rollups_kept=mode == "kept")
    return {"seconds": time.perf_counter() - started, "status": job.status, "loaded": job.rows_loaded,
            "phases": phases}


def worker_check() -> dict:
    import time

    import django

    django.setup()
    from partnerships.services.rollups import metric_rollups_mismatches

    started = time.perf_counter()
    mismatches = metric_rollups_mismatches(months=[DAY.replace(day=1)])
    return {"mismatches": len(mismatches), "seconds": time.perf_counter() - started}


# --- the run -------------------------------------------------------------------------------------------

def render(args, results: dict[str, list[dict]], checks: list[dict]) -> str:
    kept = statistics.median(run["seconds"] for run in results["kept"])
    bare = statistics.median(run["seconds"] for run in results["bare"])
    overhead = kept / bare - 1
    before = statistics.median(run["phases"].get("merge_before", 0) for run in results["kept"])
    after = statistics.median(run["phases"].get("merge_after", 0) for run in results["kept"])
    merge_kept = statistics.median(run["phases"].get("merge", 0) for run in results["kept"])
    merge_bare = statistics.median(run["phases"].get("merge", 0) for run in results["bare"])
    quiet = all(run["quiet"]["quiet"] for runs in results.values() for run in runs)
    return "\n".join([
        f"# Rollup upkeep at ingest ({dt.date.today()}, {args.rows:,} rows, median of {args.runs} runs)",
        "",
        "| daily load (second day of the month, every partner) | seconds | rows/s |",
        "|---|---:|---:|",
        f"| without rollup upkeep | {bare:.2f} | {args.rows / bare:,.0f} |",
        f"| with rollup upkeep (the product) | {kept:.2f} | {args.rows / kept:,.0f} |",
        "",
        f"Upkeep adds **{overhead:.0%}** to the load (target ≤ {TARGET_OVERHEAD:.0%}). Merge phase "
        f"{merge_bare:.2f} s without, {merge_kept:.2f} s with, of which the change captured before the upsert "
        f"{before:.2f} s and added to the rollups after it {after:.2f} s.",
        f"Rollups checked against the daily rows after every load with upkeep: "
        f"{sum(check['mismatches'] for check in checks)} mismatching partner-months "
        f"(check {statistics.median(check['seconds'] for check in checks):.2f} s).",
        "",
        ("Every timing started on a quiet machine." if quiet else
         "Some timings started while the machine was busy (raw measurements: quiet=false)."),
    ])


def main() -> None:
    parser = harness.argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="cp_bench_rollups")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-wait", type=float, default=900)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--worker", choices=["load", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = worker_load(*args.files) if args.worker == "load" else worker_check()
        Path(args.out).write_text(json.dumps(result))
        return

    work = Path(tempfile.gettempdir()) / "cp_bench_rollups"
    work.mkdir(exist_ok=True)
    media = str(work / "media")
    db_url = prepare_database(args.server, args.db, args.rows, args.reuse, media)
    env = worker_env(db_url, media)
    first, second = work / f"first_{args.rows}.csv", work / f"second_{args.rows}.csv"
    generate_metrics(first, args.rows, day=DAY)
    generate_metrics(second, args.rows, seed=20261102, day=SECOND_DAY)

    results: dict[str, list[dict]] = {"kept": [], "bare": []}
    checks: list[dict] = []
    for repetition in range(args.runs):
        for mode in (["kept", "bare"] if repetition % 2 == 0 else ["bare", "kept"]):
            reset(db_url)
            harness.run_worker(__file__, env, "load", str(first), "kept", quiet=True)
            checkpoint(db_url)
            measured_quiet = wait_quiet(args.server, args.max_wait)
            measured = harness.run_worker(__file__, env, "load", str(second), mode, quiet=True)
            measured["quiet"] = measured_quiet
            assert measured["status"] == "succeeded", measured
            assert measured["loaded"] == args.rows, measured
            results[mode].append(measured)
            log(f"run {repetition + 1} {mode}: {measured['seconds']:.2f} s "
                f"{ {key: round(value, 2) for key, value in measured['phases'].items()} }")
            if mode == "kept":
                checks.append(harness.run_worker(__file__, env, "check", quiet=True))
                assert checks[-1]["mismatches"] == 0, checks[-1]

    report = render(args, results, checks)
    harness.write_report(REPORT_PATH, report + "\n\nRaw measurements:\n\n```json\n"
                         + json.dumps({"results": results, "checks": checks}, indent=1, default=str) + "\n```\n")


if __name__ == "__main__":
    main()
