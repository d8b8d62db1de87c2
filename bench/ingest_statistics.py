"""Statistics after a load benchmark (issue 18): the refresh after a daily load (only the partners the load
changed, from the changes the merge stored) beside the full refresh, and the load's own time.

Run by hand from the project root against a local PostgreSQL (never in CI):

    .venv/bin/python bench/ingest_statistics.py --rows 200000          # its own database of --rows partners
    .venv/bin/python bench/ingest_statistics.py --rows 200000 --reuse  # keep the loaded partners

Options: --server, --db (default cp_bench_statistics), --rows (partners and rows per day, default 1,000,000),
--runs (timed repetitions, default 3), --max-wait (seconds to wait for a quiet machine before each timing),
--history-days (days of metrics before the first day, default 29).

First, --history-days (default 29) days before the first day, for every partner, are written by SQL with their
rollups (once; kept with --reuse), so the 30-day window is full as in production. Each run starts from the same
state: the days from the first day on, the statistics and the waiting changes deleted, a first day (every partner)
loaded, the full refresh as of the second day (so the statistics hold the window), a CHECKPOINT; then, each in
a fresh worker process: the second day (every partner: the everyday load, which changes every partner) loaded by
partnerships.ingest_metrics.daily_metrics_ingest (timed: the load's own time), the refresh after the load
(partner_statistics_refresh_changed), the statistics' fingerprint, the full refresh (partner_statistics_refresh)
and its fingerprint: the two must be equal. Target: the refresh after a load takes at most the load's own time.
The report is printed and written to bench/results/ingest_statistics.md (git-ignored)."""

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

REPORT_PATH = harness.RESULTS_DIR / "ingest_statistics.md"
SECOND_DAY = DAY + dt.timedelta(days=1)
FINGERPRINT = """
    SELECT md5(string_agg(concat_ws(',', partner_id, as_of, followers, views_30d, qualified_views_30d, likes_30d,
                                    comments_30d, shares_30d, posts_30d, avg_views_per_post, engagement_rate),
                          ';' ORDER BY partner_id)), count(*)
    FROM partnerships_partnerstatistics"""


def reset(db_url: str) -> None:
    """Back to the history only: no row from the first day on, no statistics, no waiting change."""
    with connect(db_url) as conn:
        conn.execute("DELETE FROM partnerships_dailymetric WHERE day >= %s", [DAY])
        conn.execute("DELETE FROM partnerships_monthlymetricrollup WHERE month >= %s", [DAY.replace(day=1)])
        conn.execute("TRUNCATE partnerships_partnerstatistics, partnerships_statisticschange")


def write_history(db_url: str, days: int) -> list[dt.date]:
    """``days`` days before DAY for every partner (varied figures, qualified views within views), unless there
    already are exactly those; returns the months they fall in (their rollups are rebuilt)."""
    first = DAY - dt.timedelta(days=days)
    with connect(db_url) as conn:
        present = conn.execute("SELECT min(day), count(DISTINCT day) FROM partnerships_dailymetric "
                               "WHERE day < %s", [DAY]).fetchone()
        if present == (first if days else None, days):
            return []
        log(f"writing {days} days of history")
        conn.execute("TRUNCATE partnerships_dailymetric, partnerships_monthlymetricrollup")
        if days:
            conn.execute("""
                INSERT INTO partnerships_dailymetric (partner_id, day, views, qualified_views, likes, comments,
                                                      shares, followers, posts)
                SELECT p.id, d::date, v, v * 3 / 4, v / 20, v / 200, v / 500, 1000 + p.id %% 50000 + n, n %% 3
                FROM partnerships_partner p
                CROSS JOIN generate_series(%s::date, %s::date, interval '1 day') WITH ORDINALITY g(d, n)
                CROSS JOIN LATERAL (SELECT (p.id * 7919 + n * 104729) %% 200000 AS v) x""",
                         [first, DAY - dt.timedelta(days=1)])
        conn.execute("VACUUM ANALYZE partnerships_dailymetric")
    return sorted({(first + dt.timedelta(days=n)).replace(day=1) for n in range(days)})


def checkpoint(db_url: str) -> None:
    with connect(db_url) as conn:
        # The search table too: the refreshes update a third of its rows each run, and without a vacuum between
        # runs (autovacuum's work between two daily loads) each run found more dead versions than the one before.
        conn.execute("VACUUM ANALYZE partnerships_dailymetric, partnerships_monthlymetricrollup, "
                     "partnerships_partnerstatistics, partnerships_marketplacecreator")
        conn.execute("CHECKPOINT")


def fingerprint(db_url: str) -> list:
    with connect(db_url) as conn:
        return list(conn.execute(FINGERPRINT).fetchone())


# --- worker side (a fresh Django process per measurement) ----------------------------------------------

def worker(step: str, path: str = "") -> dict:
    import time

    import django

    django.setup()
    from ingestion.jobs import import_job_create
    from ingestion.models import ImportJob
    from partnerships.ingest_metrics import daily_metrics_ingest
    from partnerships.services.statistics import partner_statistics_refresh, partner_statistics_refresh_changed

    started = time.perf_counter()
    result: dict = {}
    if step == "load":
        job = import_job_create(kind=ImportJob.Kind.METRICS, source_name=Path(path).name, file_path=path)
        job = daily_metrics_ingest(job_id=job.pk, refresh=False)
        result.update(status=job.status, loaded=job.rows_loaded)
    elif step == "rebuild":
        from partnerships.services.rollups import metric_rollups_rebuild

        result["rows"] = metric_rollups_rebuild(months=[dt.date.fromisoformat(path)])
    elif step == "changed":
        result["partners"] = partner_statistics_refresh_changed(as_of=SECOND_DAY)
    else:
        result["partners"] = partner_statistics_refresh(as_of=SECOND_DAY)
    result["seconds"] = time.perf_counter() - started
    return result


# --- the run -------------------------------------------------------------------------------------------

def render(args, runs: list[dict]) -> str:
    def median(key: str) -> float:
        return statistics.median(run[key]["seconds"] for run in runs)

    load, changed, full = median("load"), median("changed"), median("full")
    busy = [run[key]["cpu_busy"] for run in runs for key in ("load", "changed", "full")]
    quiet = all(run[key]["quiet"] for run in runs for key in ("load", "changed", "full"))
    return "\n".join([
        f"# Statistics after a load ({dt.date.today()}, {args.rows:,} partners, {args.history_days} days of "
        f"history, median of {args.runs} runs)",
        "",
        "| step (second day of the month, every partner changed) | seconds |",
        "|---|---:|",
        f"| the load (daily_metrics_ingest, rollups kept) | {load:.2f} |",
        f"| refresh after the load (partner_statistics_refresh_changed) | {changed:.2f} |",
        f"| full refresh (partner_statistics_refresh) | {full:.2f} |",
        "",
        f"The refresh after the load takes **{changed / load:.0%}** of the load's own time (target ≤ 100%), "
        f"{changed / full:.0%} of the full refresh's. Statistics equal after both in every run: "
        f"{all(run['changed_fingerprint'] == run['full_fingerprint'] for run in runs)}.",
        "",
        f"CPU busy (other processes included) before each timing: {min(busy):.0%} to {max(busy):.0%}. "
        + ("Every timing started on a quiet machine." if quiet else
           "Some timings started while the machine was busy (raw measurements: quiet=false)."),
    ])


def main() -> None:
    parser = harness.argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="cp_bench_statistics")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-wait", type=float, default=900)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--history-days", type=int, default=29)
    parser.add_argument("--worker", choices=["load", "changed", "full", "rebuild"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        Path(args.out).write_text(json.dumps(worker(args.worker, *args.files)))
        return

    work = Path(tempfile.gettempdir()) / "cp_bench_statistics"
    work.mkdir(exist_ok=True)
    media = str(work / "media")
    db_url = prepare_database(args.server, args.db, args.rows, args.reuse, media)
    env = worker_env(db_url, media)
    first, second = work / f"first_{args.rows}.csv", work / f"second_{args.rows}.csv"
    generate_metrics(first, args.rows, day=DAY)
    generate_metrics(second, args.rows, seed=20261102, day=SECOND_DAY)

    for month in write_history(db_url, args.history_days):
        harness.run_worker(__file__, env, "rebuild", month.isoformat(), quiet=True)

    def timed(step: str, *files: str) -> dict:
        quiet = wait_quiet(args.server, args.max_wait)
        result = harness.run_worker(__file__, env, step, *files, quiet=True)
        return {**result, **quiet}

    runs: list[dict] = []
    for repetition in range(args.runs):
        reset(db_url)
        assert harness.run_worker(__file__, env, "load", str(first), quiet=True)["status"] == "succeeded"
        harness.run_worker(__file__, env, "full", quiet=True)
        checkpoint(db_url)
        run = {"load": timed("load", str(second))}
        assert run["load"]["status"] == "succeeded", run
        assert run["load"]["loaded"] == args.rows, run
        run["changed"] = timed("changed")
        run["changed_fingerprint"] = fingerprint(db_url)
        run["full"] = timed("full")
        run["full_fingerprint"] = fingerprint(db_url)
        assert run["changed_fingerprint"] == run["full_fingerprint"], run
        runs.append(run)
        log(f"run {repetition + 1}: load {run['load']['seconds']:.2f} s, refresh after it "
            f"{run['changed']['seconds']:.2f} s, full refresh {run['full']['seconds']:.2f} s")

    report = render(args, runs)
    harness.write_report(REPORT_PATH, report + "\n\nRaw measurements:\n\n```json\n"
                         + json.dumps({"runs": runs}, indent=1, default=str) + "\n```\n")


if __name__ == "__main__":
    main()
