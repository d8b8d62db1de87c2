"""Payout benchmark: a pooled-fund month on 1,000,000 partners, the project's run beside one hand-written SQL
statement doing the same split on the same data, in the same run.

Run by hand from the project root, against a local PostgreSQL (not part of the tests, never run in CI):

    .venv/bin/python bench/payouts.py                  # (re)create both databases, load them, measure
    .venv/bin/python bench/payouts.py --reuse          # keep databases already loaded with the same sizes
    .venv/bin/python bench/payouts.py --partners 200000 --small-partners 20000 --runs 5

Other options: --server (default postgres://postgres@127.0.0.1:5432), --db / --small-db (database names,
default cp_bench_payouts / cp_bench_payouts_small; --small-partners 0 skips the small one), --runs (timed
repetitions of each path, default 3), --max-wait (seconds, per database, to wait for idle CPUs, default 1800),
--max-query-wait (seconds, before each timing, to wait for other backends' long queries to end, default 7200),
--no-explain (skip the untimed auto_explain runs).
Loading 1,000,000 partners (30,000,000 daily metric rows, about 6 GB) takes ten minutes or more, and a
project run about a minute: run it under nohup and follow the log, e.g.

    nohup .venv/bin/python bench/payouts.py > bench/results/payouts-run.log 2>&1 &

What it does, for each database (--partners, and --small-partners to show memory does not grow with size):

1. drops and recreates the database (unless --reuse finds it loaded with the same sizes), runs
   `manage.py migrate`, and loads with set-based SQL (INSERT ... SELECT over generate_series, never the
   ORM): partners, 30 daily metric rows each for September 2026 (8 % of partners have no views, the others
   a heavy-tailed, Pareto-like audience), one pooled-fund program in USD / UTC with its fund, a budget
   tranche of 1,000 cents per partner for the month (1,000,000,000 for 1,000,000 partners), money terms
   with a partner cap of 2,000.00 (about 200 partners capped, in two cap rounds) and the excess
   redistributed, and an approved enrolment per partner (approved before the month); then VACUUM ANALYZE;
2. in a Django worker process pointed at that database, --runs times (order alternating):
   - the project's path, timed: payouts.services.runs.payout_run_compute(program_id=..., month=2026-09-01),
     with every SQL statement timed through connection.execute_wrapper; checked: status 'computed', the
     lines' gross sum equal to the budget to the cent, no line above the cap;
   - the baseline, timed: ONE hand-written INSERT ... SELECT (HANDWRITTEN_SQL in bench/data/pooled.py) that
     aggregates the members' qualified views for the month, finds the water-filling fixed point in closed form
     and does the largest-remainder rounding, into the scratch table bench_handwritten_line;
   - both results compared partner by partner (FULL JOIN on partner_id: amount and capped flag);
   - between repetitions the run's lines and the run are deleted with SQL (nothing was approved, compute
     never touches the ledger) and the scratch table is emptied; a CHECKPOINT precedes every timing, and
     the CPU use of the machine, of the database backend and of the worker is recorded during it.
   Then one untimed run of each under auto_explain (ANALYZE, BUFFERS) records the plans. The worker's peak
   RSS (VmHWM) is read after the project runs: the worker does nothing else that holds memory.
3. Before each timing it waits until, for 30 s, no other backend (any database) has had an active query
   older than 5 s (another benchmark loading), and, until --max-wait seconds of waiting are spent, less than
   half the CPU was busy. The CPU use during each timing (machine, database backend) is reported, and the
   backend's CPU seconds beside the wall-clock times.

It prints the results table and writes it, with the per-statement timings and the plans, to
bench/results/payouts.md (git-ignored). Targets: the project's run at most 1.5 times the hand-written
statement; the Python process under 300 MB at any number of partners.

Worker processes get DATABASE_URL, SECRET_KEY, DEBUG=false from this script. The databases are kept for
--reuse; drop them with
    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE cp_bench_payouts' -c 'DROP DATABASE cp_bench_payouts_small'
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/payouts.py`, Python puts bench/ first on the path; the project root is what we need.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench.data import pooled  # noqa: E402
from bench.data.pooled import (  # noqa: E402
    AGGREGATE_PROBE_SQL,
    DAYS,
    HANDWRITTEN_SQL,
    HANDWRITTEN_TABLE,
    MONTH,
    PROGRAM_SLUG,
)
from bench.harness import log  # noqa: E402
from bench.payouts_report import render_report  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "payouts.md"
LOAD_VERSION = 1  # bump when the generated data changes, so --reuse reloads
# Quiet: 10 samples of 3 s in a row (30 s) without another backend's query active for 5 s, and (while the
# CPU-wait budget lasts) with less than half of the CPU busy (on 2 cores, one core free: each timed path is one
# backend on one core).
QUIET_QUERY_SECONDS, QUIET_CPU_BUSY, QUIET_SAMPLES, QUERY_WAIT_LIMIT = 5, 0.5, 10, 7200

# =====================================================================================================
# Orchestration (this process never imports Django: each database gets its own worker process)
# =====================================================================================================

def run_benchmark(args: argparse.Namespace) -> int:
    databases = [("small", args.small_db, args.small_partners), ("large", args.db, args.partners)]
    databases = [(label, name, partners) for label, name, partners in databases if partners > 0]
    loads = {label: prepare_database(args, name, partners) for label, name, partners in databases}
    measured = {}
    for label, name, partners in databases:
        log(f"measuring {label}: {partners:,} partners ({name})")
        options = ["--runs", str(args.runs), "--max-wait", str(args.max_wait),
                   "--max-query-wait", str(args.max_query_wait)]
        measured[label] = harness.run_worker(__file__, worker_environment(args, name), "measure", *options,
                                             *(["--no-explain"] if args.no_explain else []))
        measured[label]["partners"] = partners
    harness.write_report(REPORT_PATH, render_report(args, loads, measured))
    return 0


def prepare_database(args: argparse.Namespace, name: str, partners: int) -> dict:
    spec = {"partners": partners, "days": DAYS, "month": MONTH.isoformat(), "version": LOAD_VERSION}
    return harness.prepare_worker_database(__file__, args, name, worker_environment(args, name), spec,
                                           "--partners", str(partners))


def worker_environment(args: argparse.Namespace, dbname: str) -> dict:
    return harness.django_environment(f"{args.server}/{dbname}", "bench-payouts-not-a-secret",
                                      CELERY_BROKER_URL=None)


# =====================================================================================================
# Worker: measure one database
# =====================================================================================================

def rss_mb() -> dict:
    values = {key: harness.memory_mb(key) for key in ("VmRSS", "VmHWM")}
    values["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return values


def wait_for_quiet(budget: dict) -> dict:
    """Wait until no other backend (any database) has had an active query running for QUIET_QUERY_SECONDS
    (a load, another benchmark), QUIET_SAMPLES samples in a row, up to QUERY_WAIT_LIMIT. While the worker's
    CPU-wait budget lasts (--max-wait seconds over the whole worker), also wait for less than QUIET_CPU_BUSY
    of the CPU to be busy; once it is spent, CPU contention is only recorded (the report shows it)."""
    from django.db import connection

    started, quiet, last_note = time.monotonic(), 0, -1e9
    cpu_required = budget["left"] > 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(harness.OTHER_ACTIVE_QUERIES, [QUIET_QUERY_SECONDS])
            others = cursor.fetchall()
        busy = harness.cpu_busy(3)
        waited = time.monotonic() - started
        if cpu_required and waited > budget["left"]:
            cpu_required = False
            log("    the CPU-wait budget (--max-wait) is spent: from now on only long queries elsewhere are waited for")
        if not others and (busy < QUIET_CPU_BUSY or not cpu_required):
            quiet += 1
            if quiet >= QUIET_SAMPLES:
                budget["left"] = max(0.0, budget["left"] - waited)
                return {"waited_s": round(waited, 1), "cpu_required": cpu_required, "cpu_busy": round(busy, 2)}
            continue
        quiet = 0
        if waited > budget.get("query_limit", QUERY_WAIT_LIMIT):
            log(f"    still busy after {waited:,.0f} s, measuring anyway: {others}")
            budget["left"] = 0.0
            return {"waited_s": round(waited, 1), "gave_up": True, "busy": repr(others)}
        if waited - last_note > 60:
            last_note = waited
            log(f"    waiting for a quiet machine: CPU {busy:.0%} busy, other queries: {others}")
        time.sleep(5)


class StatementTimer:
    """connection.execute_wrapper: times every statement of the project's run."""

    def __init__(self) -> None:
        self.statements: list[dict] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        result = execute(sql, params, many, context)
        seconds = time.perf_counter() - started
        cursor = context.get("cursor")
        rows = getattr(cursor, "rowcount", None)
        self.statements.append({"sql": " ".join(sql.split()), "seconds": seconds, "rows": rows})
        return result


def measure_database(runs: int, max_wait: float, explain: bool, max_query_wait: float = QUERY_WAIT_LIMIT) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from core.periods import month_end
    from core.sql import datetime_param
    from partnerships.models import Program
    from payouts.formulas.tables import LINE_TABLE
    from payouts.funds import FundPosition
    from payouts.models import Fund, PayoutRun, ProgramTerms
    from payouts.services.runs import payout_run_compute
    from payouts.services.what_if import payout_run_what_if

    def sql(statement: str, params=None, fetch: bool = False):
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if fetch else cursor.rowcount

    rss_at_start = rss_mb()
    wait_budget = {"left": max_wait, "query_limit": max_query_wait}
    program = Program.objects.get(slug=PROGRAM_SLUG)
    terms = ProgramTerms.objects.get(program=program)
    fund = Fund.objects.get(program=program)
    budget = FundPosition(fund).available(MONTH)
    cap = terms.partner_cap_minor
    after = month_end(MONTH) + dt.timedelta(days=1)
    params = {"program": program.pk, "start": MONTH, "end": month_end(MONTH), "min_views": terms.min_views,
              "cutoff": datetime_param(dt.datetime(after.year, after.month, after.day, tzinfo=dt.UTC)),
              "budget": budget, "cap": cap}
    sql(f"CREATE TABLE IF NOT EXISTS {HANDWRITTEN_TABLE} (partner_id bigint, weight numeric, gross_minor bigint, "
        "capped boolean, rounding_minor int)")
    sql("SET jit = DEFAULT")
    settings = dict(sql("SELECT name, setting || COALESCE(unit, '') FROM pg_settings WHERE name IN "
                        "('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'jit', "
                        "'effective_cache_size', 'max_wal_size')", fetch=True))

    def reset() -> None:
        """Delete the run and its lines (nothing was approved; compute never touches the ledger). The bench
        database holds no other lines, so TRUNCATE deletes exactly the run's lines, without a VACUUM."""
        assert not sql(f"SELECT 1 FROM {LINE_TABLE} l JOIN payouts_payoutrun r ON r.id = l.run_id "
                       "WHERE r.program_id <> %s LIMIT 1", [program.pk], fetch=True)
        # payment items (none here) refer to lines, screening flags to the run: emptied with them
        sql(f"TRUNCATE {LINE_TABLE}, payouts_paymentitem, payouts_screeningflag, {HANDWRITTEN_TABLE}")
        sql("DELETE FROM payouts_payoutrun WHERE program_id = %s", [program.pk])
        sql("VACUUM payouts_payoutrun")

    screening = {"seconds": []}
    compute_module = importlib.import_module("payouts.services.runs")
    screen = compute_module.run_screen

    def timed_screen(*args, **kwargs):  # the screening step inside the project's run, timed on its own
        started = time.perf_counter()
        try:
            return screen(*args, **kwargs)
        finally:
            screening["seconds"].append(time.perf_counter() - started)

    compute_module.run_screen = timed_screen
    User = get_user_model()
    actor = User.objects.filter(username="bench-finance").first() or User.objects.create_superuser(
        "bench-finance", "bench-finance@example.org", None)
    what_if_cap = cap // 2

    def project_run() -> tuple[float, PayoutRun, StatementTimer]:
        timer = StatementTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            run = payout_run_compute(program_id=program.pk, month=MONTH)
        return time.perf_counter() - started, run, timer

    def what_if_run(run: PayoutRun) -> tuple[float, dict]:
        """The what-if page's computation for one changed cap (half the live one), a page of 200 rows."""
        started = time.perf_counter()
        result = payout_run_what_if(run_id=run.pk, terms_changes={"partner_cap_minor": what_if_cap}, actor=actor,
                                    row_limit=200)
        seconds = time.perf_counter() - started
        return seconds, {"cap": what_if_cap, "old_gross": result.old.gross, "new_gross": result.new.gross,
                         "gaining": result.gaining, "losing": result.losing, "unchanged": result.unchanged,
                         "rows": len(result.rows), "lines_after": sql(
                             f"SELECT COUNT(*) FROM {LINE_TABLE} WHERE run_id = %s", [run.pk], fetch=True)[0][0]}

    def handwritten_run() -> tuple[float, int]:
        started = time.perf_counter()
        rows = sql(HANDWRITTEN_SQL, params)
        return time.perf_counter() - started, rows

    backend_pid = sql("SELECT pg_backend_pid()", fetch=True)[0][0]

    def cpu_seconds(pid: int | str) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def machine_cpu() -> tuple[float, float]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields) / os.sysconf("SC_CLK_TCK"), (fields[3] + fields[4]) / os.sysconf("SC_CLK_TCK")

    def timed(function):
        """Run a timed path; note how busy the machine was meanwhile and how much of it was ours."""
        own0, backend0, (total0, idle0) = cpu_seconds("self"), cpu_seconds(backend_pid), machine_cpu()
        started = time.perf_counter()
        result = function()
        wall = time.perf_counter() - started
        own1, backend1, (total1, idle1) = cpu_seconds("self"), cpu_seconds(backend_pid), machine_cpu()
        cores = os.cpu_count() or 1
        busy_cores = cores * (1 - (idle1 - idle0) / max(1e-9, total1 - total0))
        return result, {"busy_cores": round(busy_cores, 2), "backend_cores": round((backend1 - backend0) / wall, 2),
                        "python_cores": round((own1 - own0) / wall, 2), "wall": wall}

    def check_project(run: PayoutRun) -> dict:
        run.refresh_from_db()
        count, gross, top, capped, rounded = sql(
            f"SELECT COUNT(*), SUM(gross_minor), MAX(gross_minor), COUNT(*) FILTER (WHERE capped), "
            f"SUM(rounding_minor) FROM {LINE_TABLE} WHERE run_id = %s", [run.pk], fetch=True)[0]
        return {"status": run.status, "error": run.error, "lines": count, "sum_gross": int(gross or 0),
                "budget": budget, "run_budget": run.budget_minor, "sum_equals_budget": int(gross or 0) == budget,
                "max_gross": int(top or 0), "cap": cap, "within_cap": int(top or 0) <= cap, "capped": capped,
                "rounding_cents": int(rounded or 0)}

    def check_handwritten(run: PayoutRun) -> dict:
        count, gross, top, capped = sql(
            f"SELECT COUNT(*), SUM(gross_minor), MAX(gross_minor), COUNT(*) FILTER (WHERE capped) "
            f"FROM {HANDWRITTEN_TABLE}", fetch=True)[0]
        compared, different, first = sql(f"""
            SELECT COUNT(*),
                   COUNT(*) FILTER (WHERE l.partner_id IS NULL OR b.partner_id IS NULL
                                    OR l.gross_minor <> b.gross_minor OR l.capped <> b.capped),
                   MIN(COALESCE(l.partner_id, b.partner_id)) FILTER (WHERE l.partner_id IS NULL
                       OR b.partner_id IS NULL OR l.gross_minor <> b.gross_minor OR l.capped <> b.capped)
            FROM (SELECT partner_id, gross_minor, capped FROM {LINE_TABLE} WHERE run_id = %s) l
            FULL JOIN {HANDWRITTEN_TABLE} b ON b.partner_id = l.partner_id
        """, [run.pk], fetch=True)[0]
        return {"lines": count, "sum_gross": int(gross or 0), "sum_equals_budget": int(gross or 0) == budget,
                "max_gross": int(top or 0), "within_cap": int(top or 0) <= cap, "capped": capped,
                "compared": compared, "different": different, "first_different_partner": first,
                "amounts_equal": different == 0 and compared == count}

    log(f"  budget {budget:,} cents, cap {cap:,} cents; warming the cache")
    reset()
    sql("SELECT COUNT(*), SUM(qualified_views) FROM partnerships_dailymetric WHERE day >= %s", [MONTH], fetch=True)
    sql("SELECT COUNT(*) FROM partnerships_enrolment", fetch=True)
    reps: list[dict] = []
    for index in range(runs):
        order = ("project", "handwritten") if index % 2 == 0 else ("handwritten", "project")
        rep: dict = {"order": list(order)}
        for path in order:
            sql("CHECKPOINT")
            rep[f"quiet_{path}"] = wait_for_quiet(wait_budget)
            if path == "project":
                (seconds, run, timer), rep["cpu_project"] = timed(project_run)
                rep["project_s"], rep["statements"] = seconds, timer.statements
                rep["screening_s"] = screening["seconds"][-1]
                rep["project_check"] = check_project(run)
                log(f"  run {index + 1}/{runs}: project {seconds:,.2f} s (screening {rep['screening_s']:,.2f} s), "
                    f"{rep['project_check']}")
                sql("CHECKPOINT")
                rep["quiet_what_if"] = wait_for_quiet(wait_budget)
                (rep["what_if_s"], rep["what_if"]), rep["cpu_what_if"] = timed(functools.partial(what_if_run, run))
                log(f"  run {index + 1}/{runs}: what-if (cap {what_if_cap:,}) {rep['what_if_s']:,.2f} s, "
                    f"{rep['what_if']}")
            else:
                (seconds, rows), rep["cpu_handwritten"] = timed(handwritten_run)
                rep["handwritten_s"], rep["handwritten_rows"] = seconds, rows
                log(f"  run {index + 1}/{runs}: hand-written statement {seconds:,.2f} s, {rows:,} rows")
        rep["handwritten_check"] = check_handwritten(run)
        log(f"    hand-written check: {rep['handwritten_check']}")
        reps.append(rep)
        reset()
    rss_after_project = rss_mb()

    aggregate = {"workers_0": [], "workers_default": []}
    for _ in range(2):
        for key, setting in (("workers_0", "0"), ("workers_default", "DEFAULT")):
            sql(f"SET max_parallel_workers_per_gather = {setting}")
            wait_for_quiet(wait_budget)
            started = time.perf_counter()
            sql(AGGREGATE_PROBE_SQL, params, fetch=True)
            aggregate[key].append(time.perf_counter() - started)
    sql("RESET max_parallel_workers_per_gather")
    log(f"  aggregation alone (SELECT): {aggregate}")

    plans = {"project": [], "handwritten": [], "project_s_under_explain": None}
    if explain:
        log("  plans (auto_explain, untimed)")
        plans = explain_runs(params, project_run, reset)
    return {"runs": reps, "rss_start": rss_at_start, "rss_after": rss_after_project, "plans": plans,
            "settings": settings, "budget": budget, "cap": cap, "sizes": pooled.sizes(), "aggregate": aggregate}


def explain_runs(params: dict, project_run, reset) -> dict:
    """One untimed run of each path under auto_explain (ANALYZE, BUFFERS); plans arrive as notices."""
    from django.db import connection

    notices: list[str] = []
    connection.ensure_connection()
    handler = lambda diagnostic: notices.append(diagnostic.message_primary or "")  # noqa: E731
    connection.connection.add_notice_handler(handler)
    with connection.cursor() as cursor:
        for statement in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = '200ms'",
                          "SET auto_explain.log_analyze = on", "SET auto_explain.log_buffers = on",
                          "SET auto_explain.log_level = 'notice'", "SET auto_explain.log_nested_statements = off",
                          "SET client_min_messages = notice"):
            cursor.execute(statement)
    project_seconds, _, timer = project_run()
    project_plans = list(notices)
    notices.clear()
    with connection.cursor() as cursor:
        cursor.execute(HANDWRITTEN_SQL, params)
    handwritten_plans = list(notices)
    connection.connection.remove_notice_handler(handler)
    with connection.cursor() as cursor:
        cursor.execute("SET auto_explain.log_min_duration = -1")
    reset()
    return {"project": project_plans, "handwritten": handwritten_plans, "project_s_under_explain": project_seconds,
            "statements_under_explain": timer.statements}


# =====================================================================================================
# Entry point
# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=1_000_000, help="partners in the main database")
    parser.add_argument("--small-partners", type=int, default=100_000,
                        help="partners in the second database, to compare memory (0: skip it)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each path")
    parser.add_argument("--reuse", action="store_true", help="keep databases already loaded with the same sizes")
    parser.add_argument("--db", default="cp_bench_payouts")
    parser.add_argument("--small-db", default="cp_bench_payouts_small")
    parser.add_argument("--max-wait", type=float, default=1800,
                        help="seconds (per database, in all) to wait for idle CPUs before timings")
    parser.add_argument("--max-query-wait", type=float, default=QUERY_WAIT_LIMIT,
                        help="seconds to wait, before each timing, for other backends' long queries to end")
    parser.add_argument("--no-explain", action="store_true", help="skip the untimed auto_explain runs")
    parser.add_argument("--worker", choices=["load", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.benchmark_or_worker(
        args, run_benchmark, load=lambda: pooled.load_pooled_database(args.partners),
        measure=lambda: measure_database(args.runs, args.max_wait, explain=not args.no_explain,
                                         max_query_wait=args.max_query_wait))


if __name__ == "__main__":
    sys.exit(main())
