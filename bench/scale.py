"""Scale benchmark (issue 18): a pooled-fund month at 10,000,000 partners, computed from the monthly rollups.

Run by hand from the project root, against a local PostgreSQL (not part of the tests, never run in CI):

    .venv/bin/python bench/scale.py                        # (re)create cp_bench_scale, load it, measure
    .venv/bin/python bench/scale.py --reuse                # keep a database already loaded with the same size
    .venv/bin/python bench/scale.py --partners 100000 --db cp_h_scale18 --runs 2

Other options: --server (default postgres://postgres@127.0.0.1:5432), --max-wait (seconds to wait for idle CPUs
before the timing, default 300), --max-query-wait (seconds to wait for other backends' long queries, default 900).
Loading 10,000,000 partners takes half an hour or more at low priority: run it under nohup and follow the log,

    nohup .venv/bin/python bench/scale.py > bench/results/scale-run.log 2>&1 &

The data is bench/payouts.py's (bench/data/pooled.py: the same program, fund, budget of 1,000 cents per partner,
cap, partners and approved enrolments, loaded by the same functions) except for the metrics: instead of 30 daily
rows per partner, ONE monthly rollup row per partner for the month (MonthlyMetricRollup), written set-based straight
into the rollup table. Its figures follow load_metrics' distribution: SILENT_SHARE (8 %) of partners without views,
the others a Pareto-like daily audience; the month's views are about days × audience, the peak day the largest of
`days` draws of audience × (0.5 .. 1.5), qualified views 60-95 % of views, likes / comments / shares 5 / 0.6 / 0.4 %;
most partners have 30 days, DAYS_SHORT_SHARE fewer. No daily rows are loaded (10,000,000 × 30 would be 300,000,000).

What the month reads, and what still reads daily rows (none here, so the bench checks they behave sensibly):

- the members' weights and screening's month figures come from the rollups (payouts.formulas.pooled.members_sql);
- members suspended during the month read their daily rows, where each day counts or not: SUSPENDED_SHARE (0.1 %)
  of the enrolments get a suspension inside the month; with no daily rows they earn nothing and the budget goes to
  the others (the report counts their lines: 0 expected; in production they read their ~30 rows each by index);
- screening's spike check reads the daily rows of the window for the members whose month peak reaches the floor
  (a few hundred at 10,000,000): with no daily rows none is scored, so it flags nothing (the report counts those
  candidates); the engagement check reads the days before the month for its few candidates (none flagged here).

The load runs in a worker process with its PostgreSQL backend reniced to nice LOAD_NICE (the machine is shared with
other benchmarks: the load takes spare CPU only); secondary indexes of the loaded tables are dropped before the
load and built after it. The timed computation runs in a separate worker process at normal priority (DATABASE_URL
to the database, DEBUG=false): payouts.services.runs.payout_run_compute for the month, every statement timed through
connection.execute_wrapper, checked (status computed, the lines' gross sum equal to the budget to the cent, no line
above the cap), with the wall time, the backend's and the worker's CPU seconds, the worker's peak RSS (VmHWM), the
load average before and during, and the table sizes. The report goes to bench/results/scale.md (git-ignored).
Drop the database with  psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE cp_bench_scale'
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/scale.py`, Python puts bench/ first on the path; the project root is what we need.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench.data import PARTNER_CHUNK, insert_per_partner, table_sizes  # noqa: E402
from bench.data.pooled import (  # noqa: E402
    MONTH,
    PARETO_ALPHA,
    PROGRAM_SLUG,
    SILENT_SHARE,
    VIEWS_CEILING,
    VIEWS_SCALE,
    create_program,
    load_enrolments,
    load_partners,
)
from bench.harness import LOAD_SESSION, LoadSteps, execute, log  # noqa: E402
from bench.payouts import StatementTimer, rss_mb, wait_for_quiet  # noqa: E402
from bench.scale_report import LOAD_NICE, render_report  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "scale.md"
LOAD_VERSION = 1  # bump when the generated data changes, so --reuse reloads
DAYS, DAYS_SHORT_SHARE = 30, 0.05  # most partners have a row every day; some joined late or missed days
SUSPENDED_SHARE = 0.001  # enrolments suspended for ten days inside the month (read from daily rows)
LOADED_TABLES = ("partnerships_partner", "partnerships_enrolment", "partnerships_monthlymetricrollup")
TOP_STATEMENTS = 12


# =====================================================================================================
# Orchestration (this process never imports Django)
# =====================================================================================================

def run_benchmark(args: argparse.Namespace) -> int:
    env = harness.django_environment(f"{args.server}/{args.db}", "bench-scale-not-a-secret", CELERY_BROKER_URL=None)
    spec = {"partners": args.partners, "month": MONTH.isoformat(), "version": LOAD_VERSION}
    load = harness.prepare_worker_database(__file__, args, args.db, env, spec, "--partners", str(args.partners))
    log(f"measuring {args.partners:,} partners ({args.db}), normal priority")
    measured = harness.run_worker(__file__, env, "measure", "--runs", str(args.runs), "--max-wait",
                                  str(args.max_wait), "--max-query-wait", str(args.max_query_wait))
    report = render_report(args, load, measured)
    harness.write_report(REPORT_PATH, report)
    (harness.RESULTS_DIR / f"scale-{args.partners}.md").write_text(report)
    return 0


# =====================================================================================================
# Worker: load (low priority)
# =====================================================================================================

def renice_load(nice: int = LOAD_NICE) -> int:
    """This process and its PostgreSQL backend at ``nice``; returns the backend's pid."""
    from django.db import connection

    os.setpriority(os.PRIO_PROCESS, 0, nice)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    os.setpriority(os.PRIO_PROCESS, backend, nice)
    return backend


def drop_secondary_indexes(tables: tuple[str, ...]) -> list[str]:
    """Drop the indexes of ``tables`` that back no constraint; returns their definitions, to build after the load
    (one sort per index instead of millions of inserts into each)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
            WHERE i.indrelid = ANY(%s::regclass[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""", [list(tables)])
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in indexes]


def load_suspensions() -> int:
    """SUSPENDED_SHARE of the enrolments (every 1/share-th id) suspended from the month's 11th to its 21st."""
    from django.db import connection

    every = round(1 / SUSPENDED_SHARE)
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO partnerships_enrolmentsuspension (enrolment_id, starts_on, ends_on, created_at)
            SELECT id, %(month)s::date + 10, %(month)s::date + 20, %(month)s::timestamptz + interval '10 days'
            FROM partnerships_enrolment WHERE id %% %(every)s = 0 ORDER BY id""", {"month": MONTH, "every": every})
        return cursor.rowcount


def load_rollups() -> int:
    """One MonthlyMetricRollup row per partner for MONTH (see the module docstring for the distribution)."""
    sql = f"""
        INSERT INTO partnerships_monthlymetricrollup
            (partner_id, month, views, qualified_views, likes, comments, shares, peak_qualified_views, days)
        SELECT partner_id, %(month)s, views, floor(views * qualified_share)::bigint, floor(views * 0.05)::bigint,
               floor(views * 0.006)::bigint, floor(views * 0.004)::bigint, floor(peak * qualified_share)::bigint, days
        FROM (
            SELECT partner_id, qualified_share, days, peak,
                   CASE WHEN days = 1 THEN peak
                        ELSE greatest(peak, floor(audience * days * (0.9 + 0.2 * random()))::bigint) END AS views
            FROM (
                -- the best of `days` draws of audience × (0.5 + U): U's maximum is distributed as V^(1/days)
                SELECT partner_id, qualified_share, days, audience,
                       floor(audience * (0.5 + power(random(), 1.0 / days)))::bigint AS peak
                FROM (
                    SELECT id AS partner_id,
                           CASE WHEN random() < {SILENT_SHARE} THEN 0
                                ELSE least({VIEWS_SCALE} * power(1 - random(), (-1 / {PARETO_ALPHA})::float8),
                                           {VIEWS_CEILING}) END AS audience,
                           0.6 + 0.35 * random() AS qualified_share,
                           CASE WHEN random() < {DAYS_SHORT_SHARE} THEN 1 + floor(random() * ({DAYS} - 1))::int
                                ELSE {DAYS} END AS days
                    FROM partnerships_partner
                    WHERE id BETWEEN %(low)s AND %(high)s
                    ORDER BY id
                ) AS profile
            ) AS with_peak
        ) AS with_views
    """
    return insert_per_partner(sql, {"month": MONTH}, PARTNER_CHUNK, "rollups", rate=True)


def build_indexes(definitions: list[str]) -> int:
    execute(*definitions)
    return len(definitions)


def load_scale_database(partners: int) -> dict:
    backend = renice_load()
    log(f"  load at nice {LOAD_NICE}: this process {os.getpid()} and its backend {backend}")
    step = LoadSteps()
    execute(*LOAD_SESSION, "SET max_parallel_maintenance_workers = 0")  # index builds stay in the niced backend
    deferred = drop_secondary_indexes(LOADED_TABLES)  # before any row, so no row goes into them
    step("program, fund, tranche, terms (ORM)", lambda: create_program(partners))
    step("partners", lambda: load_partners(partners))
    step("enrolments (approved)", load_enrolments)
    step("suspensions inside the month", load_suspensions)
    step("monthly rollups (one row per partner)", load_rollups)
    step("secondary indexes built", lambda: build_indexes(deferred))
    execute("RESET ALL")
    step("VACUUM ANALYZE", lambda: execute("VACUUM (ANALYZE)"))
    execute("CHECKPOINT")
    return {"steps": step.steps, "sizes": sizes(), "nice": LOAD_NICE, "backend": backend}


def sizes() -> list[dict]:
    return table_sizes("(c.relname LIKE 'partnerships_%' OR c.relname LIKE 'payouts_%') "
                       "AND pg_total_relation_size(c.oid) > 1000000")


# =====================================================================================================
# Worker: measure (normal priority)
# =====================================================================================================

def cpu_seconds(pid: int | str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoadSampler(threading.Thread):
    """The 1-minute load average every few seconds while the timed computation runs."""

    def __init__(self, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.every, self.done = every, threading.Event()
        self.samples: list[float] = []

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.samples.append(os.getloadavg()[0])


def measure_database(runs: int, max_wait: float, max_query_wait: float) -> dict:
    from django.db import connection
    from django.db.models import Count

    from partnerships.models import Program
    from payouts.formulas.tables import LINE_TABLE
    from payouts.funds import FundPosition
    from payouts.models import Fund, ProgramTerms, ScreeningFlag, ScreeningRules
    from payouts.services import runs as runs_module

    def sql(statement: str, params=None, fetch: bool = False):
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if fetch else cursor.rowcount

    rss_at_start = rss_mb()
    program = Program.objects.get(slug=PROGRAM_SLUG)
    terms = ProgramTerms.objects.get(program=program)
    budget = FundPosition(Fund.objects.get(program=program)).available(MONTH)
    cap = terms.partner_cap_minor
    assert cap is not None, "the bench program has a partner cap"
    rules = ScreeningRules.for_program(program)
    backend = sql("SELECT pg_backend_pid()", fetch=True)[0][0]
    nice = {"worker": os.getpriority(os.PRIO_PROCESS, 0), "backend": os.getpriority(os.PRIO_PROCESS, backend)}
    data = dict(zip(("rollups", "members", "silent", "suspended", "spike_candidates", "daily_rows"), sql("""
        SELECT COUNT(*), COUNT(*) FILTER (WHERE qualified_views >= %(min)s), COUNT(*) FILTER (WHERE views = 0),
               (SELECT COUNT(*) FROM partnerships_enrolmentsuspension),
               COUNT(*) FILTER (WHERE peak_qualified_views >= %(floor)s),
               (SELECT COUNT(*) FROM partnerships_dailymetric)
        FROM partnerships_monthlymetricrollup WHERE month = %(month)s""",
        {"min": terms.min_views, "floor": rules.spike_min_views, "month": MONTH}, fetch=True)[0], strict=True))

    def reset() -> None:
        """The bench database holds this program's runs only: empty the lines (and what refers to them)."""
        sql(f"TRUNCATE {LINE_TABLE}, payouts_paymentitem, payouts_screeningflag")
        sql("DELETE FROM payouts_payoutrun WHERE program_id = %s", [program.pk])
        sql("VACUUM payouts_payoutrun")

    screening: list[float] = []
    screen = getattr(runs_module, "run_screen")  # noqa: B009 (the name the run calls, replaced below)

    def timed_screen(*args, **kwargs):  # the screening step inside the run, timed on its own
        started = time.perf_counter()
        try:
            return screen(*args, **kwargs)
        finally:
            screening.append(time.perf_counter() - started)

    setattr(runs_module, "run_screen", timed_screen)  # noqa: B010
    log(f"  budget {budget:,} cents, cap {cap:,} cents, {data}; warming the cache")
    reset()
    sql("SELECT COUNT(*), SUM(qualified_views) FROM partnerships_monthlymetricrollup WHERE month = %s", [MONTH])
    sql("SELECT COUNT(*) FROM partnerships_enrolment")
    budget_wait = {"left": max_wait, "query_limit": max_query_wait}
    reps = []
    for index in range(runs):
        sql("CHECKPOINT")
        quiet = wait_for_quiet(budget_wait)
        load_before = os.getloadavg()
        sampler, timer = LoadSampler(), StatementTimer()
        own0, backend0 = cpu_seconds("self"), cpu_seconds(backend)
        sampler.start()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            run = runs_module.payout_run_compute(program_id=program.pk, month=MONTH)
        wall = time.perf_counter() - started
        own1, backend1 = cpu_seconds("self"), cpu_seconds(backend)
        sampler.done.set()
        load_after = os.getloadavg()
        run.refresh_from_db()
        lines, gross, top, capped, suspended_lines = sql(f"""
            SELECT COUNT(*), SUM(gross_minor), MAX(gross_minor), COUNT(*) FILTER (WHERE capped),
                   COUNT(*) FILTER (WHERE partner_id IN (SELECT e.partner_id FROM partnerships_enrolmentsuspension s
                                                         JOIN partnerships_enrolment e ON e.id = s.enrolment_id))
            FROM {LINE_TABLE} WHERE run_id = %s""", [run.pk], fetch=True)[0]
        flags = dict(ScreeningFlag.objects.filter(run=run).values_list("rule").annotate(n=Count("id")))
        check = {"status": run.status, "error": run.error, "lines": lines, "sum_gross": int(gross or 0),
                 "budget": budget, "sum_equals_budget": int(gross or 0) == budget, "max_gross": int(top or 0),
                 "cap": cap, "within_cap": int(top or 0) <= cap, "capped": capped,
                 "suspended_member_lines": suspended_lines, "flags": flags}
        rep = {"wall": wall, "screening_s": screening[-1] if screening else None, "worker_cpu": own1 - own0,
               "backend_cpu": backend1 - backend0, "load_before": load_before, "load_after": load_after,
               "load_samples": sampler.samples, "quiet": quiet, "check": check, "rss": rss_mb(),
               "statements": sorted(timer.statements, key=lambda s: -s["seconds"])[:TOP_STATEMENTS],
               "statement_count": len(timer.statements), "sizes": sizes()}
        log(f"  run {index + 1}/{runs}: {wall:,.1f} s (screening {rep['screening_s']:,.1f} s), backend CPU "
            f"{rep['backend_cpu']:,.1f} s, worker CPU {rep['worker_cpu']:,.1f} s, load {load_before[0]:.2f} -> "
            f"{load_after[0]:.2f}, {check}")
        reps.append(rep)
        reset()
    return {"runs": reps, "rss_start": rss_at_start, "rss_end": rss_mb(), "data": data, "nice": nice,
            "settings": dict(sql("SELECT name, setting || COALESCE(unit, '') FROM pg_settings WHERE name IN "
                                 "('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'jit')",
                                 fetch=True))}


# =====================================================================================================
# Entry point
# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=10_000_000)
    parser.add_argument("--db", default="cp_bench_scale")
    parser.add_argument("--reuse", action="store_true", help="keep a database already loaded with the same size")
    parser.add_argument("--runs", type=int, default=1, help="timed computations of the month")
    parser.add_argument("--max-wait", type=float, default=300, help="seconds to wait for idle CPUs before timing")
    parser.add_argument("--max-query-wait", type=float, default=900,
                        help="seconds to wait, before each timing, for other backends' long queries to end")
    parser.add_argument("--worker", choices=["load", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1_000 <= args.partners <= 50_000_000 or not 1 <= args.runs <= 20:
        parser.error("--partners must be 1,000 .. 50,000,000 and --runs 1 .. 20")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.benchmark_or_worker(args, run_benchmark, load=lambda: load_scale_database(args.partners),
                                       measure=lambda: measure_database(args.runs, args.max_wait, args.max_query_wait))


if __name__ == "__main__":
    sys.exit(main())
