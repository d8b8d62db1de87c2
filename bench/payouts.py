"""Payout benchmark: a pooled-fund month on 1,000,000 partners, the project's run beside one hand-written SQL
statement doing the same split on the same data, in the same run.

Run by hand from the project root, against a local PostgreSQL (not part of the tests, never run in CI):

    .venv/bin/python bench/payouts.py                  # (re)create both databases, load them, measure
    .venv/bin/python bench/payouts.py --reuse          # keep databases already loaded with the same sizes
    .venv/bin/python bench/payouts.py --partners 200000 --small-partners 20000 --runs 5

Other options: --server (default postgres://postgres@127.0.0.1:5432), --db / --small-db (database names,
default cp_bench_payouts / cp_bench_payouts_small; --small-partners 0 skips the small one), --runs (timed
repetitions of each path, default 3), --max-wait (seconds, per database, to wait for idle CPUs, default 1800),
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
   - the baseline, timed: ONE hand-written INSERT ... SELECT (HANDWRITTEN_SQL below) that aggregates the
     members' qualified views for the month, finds the water-filling fixed point in closed form and does
     the largest-remainder rounding, into the scratch table bench_handwritten_line;
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
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
REPORT_PATH = RESULTS_DIR / "payouts.md"

# Run as `python bench/payouts.py`, Python puts bench/ first on the path; the project root is what we need.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

LOAD_VERSION = 1  # bump when the generated data changes, so --reuse reloads
MONTH = dt.date(2026, 9, 1)  # 30 days, long ended
DAYS = 30
APPROVED_FROM = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)  # members approved between this and the month's start
PROGRAM_SLUG = "bench-pooled-fund"
BUDGET_PER_PARTNER_MINOR = 1_000  # the month's tranche: 10.00 USD per generated partner
CAP_MINOR = 200_000  # 2,000.00 USD per partner and month
MIN_VIEWS = 100
MIN_PAYOUT_MINOR = 1_000
SILENT_SHARE = 0.08  # partners without a single view in the month
PARETO_ALPHA, VIEWS_SCALE, VIEWS_CEILING = 1.3, 20, 2_000_000  # daily views: scale / U^(1/alpha), capped
TARGET_RATIO, TARGET_RSS_MB = 1.5, 300
PARTNER_CHUNK, METRIC_CHUNK = 250_000, 50_000  # partners per INSERT statement
# Quiet: 10 samples of 3 s in a row (30 s) without another backend's query active for 5 s, and (while the
# CPU-wait budget lasts) with less than half of the CPU busy (on 2 cores, one core free: each timed path is one
# backend on one core).
QUIET_QUERY_SECONDS, QUIET_CPU_BUSY, QUIET_SAMPLES, QUERY_WAIT_LIMIT = 5, 0.5, 10, 7200
LOAD_SESSION = ["SET synchronous_commit = off", "SET maintenance_work_mem = '1GB'", "SET work_mem = '256MB'",
                "SET session_replication_role = replica"]  # skips FK triggers: rows reference rows that exist

HANDWRITTEN_TABLE = "bench_handwritten_line"
# The same split as payouts.formulas.pooled + split, as CTEs. Water-filling in closed form: with the distinct
# weights sorted heaviest first, the project's rounds (cap whoever passes the cap at the current rate,
# redistribute, repeat) end at the smallest "heaviest levels" set after which the next level's share stays
# within the cap: (budget - cap * n_heavier) * w <= cap * (w_all - w_heavier). Exact numeric throughout.
SPLIT_CTES = """
WITH member AS (
    SELECT m.partner_id, SUM(m.qualified_views) AS w
    FROM partnerships_dailymetric m
    JOIN partnerships_enrolment e ON e.partner_id = m.partner_id AND e.program_id = %(program)s
         AND e.status = 'approved' AND e.approved_at < %(cutoff)s
    WHERE m.day >= %(start)s AND m.day <= %(end)s
    GROUP BY m.partner_id
    HAVING SUM(m.qualified_views) >= %(min_views)s AND SUM(m.qualified_views) > 0
),
level AS (
    SELECT w, COALESCE(SUM(n) OVER heavier, 0) AS n_heavier, COALESCE(SUM(n * w) OVER heavier, 0) AS w_heavier
    FROM (SELECT w, COUNT(*) AS n FROM member GROUP BY w) AS distinct_weight
    WINDOW heavier AS (ORDER BY w DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
pool AS (SELECT SUM(w) AS w_all, COUNT(*) AS n_all FROM member),
cut AS (
    SELECT COALESCE(f.w, 0) AS w_cut, p.w_all,
           %(budget)s::numeric - %(cap)s::numeric * COALESCE(f.n_heavier, p.n_all) AS budget_free,
           p.w_all - COALESCE(f.w_heavier, p.w_all) AS w_free
    FROM pool p LEFT JOIN LATERAL (
        SELECT l.w, l.n_heavier, l.w_heavier FROM level l
        WHERE (%(budget)s::numeric - %(cap)s::numeric * l.n_heavier) * l.w <= %(cap)s::numeric * (p.w_all - l.w_heavier)
        ORDER BY l.w DESC LIMIT 1
    ) f ON TRUE
),
share AS (
    SELECT m.partner_id, m.w, c.w_all, m.w > c.w_cut AS capped, c.budget_free,
           CASE WHEN m.w > c.w_cut THEN %(cap)s::numeric ELSE div(c.budget_free * m.w, c.w_free) END AS floored,
           CASE WHEN m.w > c.w_cut THEN 0 ELSE mod(c.budget_free * m.w, c.w_free) END AS remainder
    FROM member m CROSS JOIN cut c
),
ranked AS (
    SELECT s.*, s.budget_free - SUM(s.floored) FILTER (WHERE NOT s.capped) OVER () AS leftover,
           row_number() OVER (PARTITION BY s.capped ORDER BY s.remainder DESC, s.partner_id) AS place
    FROM share s
)"""
# The baseline: ONE statement, the split written into a scratch table (no index).
HANDWRITTEN_SQL = f"""
INSERT INTO {HANDWRITTEN_TABLE} (partner_id, weight, gross_minor, capped, rounding_minor)
{SPLIT_CTES}
SELECT partner_id, w, floored + (NOT capped AND place <= leftover)::int, capped, (NOT capped AND place <= leftover)::int
FROM ranked
"""
# How much a parallel plan could give on this machine: the members' aggregation alone, as a plain SELECT
# (INSERT ... SELECT never runs in parallel on PostgreSQL 15), with 0 and with the server's parallel workers.
AGGREGATE_PROBE_SQL = """
SELECT COUNT(*), SUM(w) FROM (
    SELECT m.partner_id, SUM(m.qualified_views) AS w
    FROM partnerships_dailymetric m
    JOIN partnerships_enrolment e ON e.partner_id = m.partner_id AND e.program_id = %(program)s
         AND e.status = 'approved' AND e.approved_at < %(cutoff)s
    WHERE m.day >= %(start)s AND m.day <= %(end)s
    GROUP BY m.partner_id
    HAVING SUM(m.qualified_views) >= %(min_views)s AND SUM(m.qualified_views) > 0
) AS member
"""


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


# =====================================================================================================
# Orchestration (this process never imports Django: each database gets its own worker process)
# =====================================================================================================

def run_benchmark(args: argparse.Namespace) -> int:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    databases = [("small", args.small_db, args.small_partners), ("large", args.db, args.partners)]
    databases = [(label, name, partners) for label, name, partners in databases if partners > 0]
    loads = {label: prepare_database(args, name, partners) for label, name, partners in databases}
    measured = {}
    for label, name, partners in databases:
        log(f"measuring {label}: {partners:,} partners ({name})")
        options = ["--runs", str(args.runs), "--max-wait", str(args.max_wait)]
        measured[label] = run_worker(args, name, "measure", *options, *(["--no-explain"] if args.no_explain else []))
        measured[label]["partners"] = partners
    report = render_report(args, loads, measured)
    REPORT_PATH.write_text(report)
    print()
    print(report)
    log(f"written to {REPORT_PATH.relative_to(ROOT)}")
    return 0


def admin_connection(server: str, dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(f"{server}/{dbname}", autocommit=True)


def read_meta(server: str, dbname: str) -> dict | None:
    import psycopg

    try:
        with admin_connection(server, dbname) as conn:
            row = conn.execute("SELECT spec, result, loaded_at FROM bench_meta WHERE id = 1").fetchone()
    except psycopg.Error:
        return None
    return {"spec": row[0], "result": row[1], "loaded_at": row[2].isoformat(timespec="minutes")} if row else None


def prepare_database(args: argparse.Namespace, name: str, partners: int) -> dict:
    spec = {"partners": partners, "days": DAYS, "month": MONTH.isoformat(), "version": LOAD_VERSION}
    if args.reuse:
        meta = read_meta(args.server, name)
        if meta and meta["spec"] == spec:
            log(f"{name}: reusing the data loaded at {meta['loaded_at']}")
            run_manage(args, name, "migrate", "--noinput", "-v", "0")
            return {**meta["result"], "reused_from": meta["loaded_at"]}
        log(f"{name}: not loaded with {spec}, loading it")
    log(f"{name}: dropping and creating the database")
    with admin_connection(args.server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    run_manage(args, name, "migrate", "--noinput", "-v", "0")
    migrate_seconds = time.perf_counter() - started
    result = run_worker(args, name, "load", "--partners", str(partners))
    result["steps"].insert(0, {"step": "migrate", "seconds": migrate_seconds, "rows": None})
    with admin_connection(args.server, name) as conn:
        conn.execute("CREATE TABLE bench_meta (id int PRIMARY KEY, spec jsonb, result jsonb, loaded_at timestamptz)")
        conn.execute("INSERT INTO bench_meta VALUES (1, %s, %s, now())", [json.dumps(spec), json.dumps(result)])
    return result


def worker_environment(args: argparse.Namespace, dbname: str) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"{args.server}/{dbname}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "bench-payouts-not-a-secret",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    })
    env.pop("CELERY_BROKER_URL", None)
    return env


def run_manage(args: argparse.Namespace, dbname: str, *command: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], cwd=ROOT,
                   env=worker_environment(args, dbname), check=True)


def run_worker(args: argparse.Namespace, dbname: str, phase: str, *options: str) -> dict:
    """Run this script as a worker process pointed at one database; it hands its result back as JSON."""
    with tempfile.NamedTemporaryFile(prefix="bench-payouts-", suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", phase, "--out", str(out), *options],
                       cwd=ROOT, env=worker_environment(args, dbname), check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


# =====================================================================================================
# Worker: load one database with set-based SQL
# =====================================================================================================

def load_database(partners: int) -> dict:
    from django.db import connection

    steps: list[dict] = []

    def step(label: str, function) -> None:
        log(f"  {label} ...")
        started = time.perf_counter()
        rows = function()
        seconds = time.perf_counter() - started
        steps.append({"step": label, "seconds": seconds, "rows": rows})
        log(f"  {label}: {seconds:,.1f} s" + (f", {rows:,} rows" if rows is not None else ""))

    def session(*statements: str) -> None:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    session(*LOAD_SESSION)
    step("program, fund, tranche, terms (ORM)", lambda: create_program(partners))
    step("partners", lambda: load_partners(partners))
    step("enrolments (approved)", load_enrolments)
    step(f"daily metrics ({DAYS} days per partner)", load_metrics)
    session("RESET ALL")
    step("VACUUM ANALYZE", lambda: session("VACUUM (ANALYZE)"))
    session("CHECKPOINT")
    return {"steps": steps, "sizes": table_sizes()}


def create_program(partners: int) -> None:
    from partnerships.models import Program
    from payouts.models import BudgetTranche, Fund, ProgramTerms

    budget = BUDGET_PER_PARTNER_MINOR * partners
    program = Program.objects.create(slug=PROGRAM_SLUG, name="Bench pooled fund", archetype="pooled_fund",
                                     currency="USD", time_zone="UTC")
    fund = Fund.objects.create(program=program, name="Bench pooled fund", currency="USD", total_minor=budget * 100)
    BudgetTranche.objects.create(fund=fund, starts_on=MONTH, ends_on=MONTH, amount_minor=budget)
    ProgramTerms.objects.create(program=program, min_views=MIN_VIEWS, partner_cap_minor=CAP_MINOR,
                                excess_policy=ProgramTerms.ExcessPolicy.REDISTRIBUTE,
                                min_payout_minor=MIN_PAYOUT_MINOR)


def load_partners(count: int) -> int:
    """Creators with handles bench.1 .. bench.N; most active, with tax form and identity on file."""
    from django.db import connection

    sql = """
        INSERT INTO partnerships_partner
            (kind, handle, display_name, country, date_of_birth, age_verified, status, status_reason,
             status_changed_at, tax_form_on_file, identity_verified, opted_into_brand_deals, created_at, updated_at)
        SELECT 'creator', 'bench.' || n, 'Bench creator ' || n,
               (ARRAY['US', 'GB', 'FR', 'DE', 'BR', 'IN', 'JP', 'MX', 'ES', 'IT'])[1 + (n %% 10)::int],
               DATE '1990-01-01' + (n %% 7000)::int, true, status,
               CASE WHEN status = 'active' THEN '' ELSE 'Bench: community guidelines review' END,
               CASE WHEN status <> 'active' THEN created_at + interval '30 days' END,
               random() < 0.9, random() < 0.92, random() < 0.4, created_at, created_at
        FROM (
            SELECT n, CASE WHEN r < 0.98 THEN 'active' WHEN r < 0.995 THEN 'suspended' ELSE 'removed' END AS status,
                   TIMESTAMPTZ '2024-01-01 00:00+00' + random() * interval '800 days' AS created_at
            FROM (SELECT n, random() AS r FROM generate_series(%(low)s, %(high)s) AS n) AS draw
        ) AS partner
        ORDER BY n
    """
    inserted = 0
    with connection.cursor() as cursor:
        for low in range(1, count + 1, PARTNER_CHUNK):
            cursor.execute(sql, {"low": low, "high": min(count, low + PARTNER_CHUNK - 1)})
            inserted += cursor.rowcount
            log(f"    partners {inserted:,} / {count:,}")
    return inserted


def load_enrolments() -> int:
    """One approved enrolment per partner in the bench program, approved before the month."""
    from django.db import connection

    from partnerships.models import Program

    program = Program.objects.get(slug=PROGRAM_SLUG)
    sql = """
        INSERT INTO partnerships_enrolment
            (partner_id, program_id, status, submitted_at, decided_at, decided_by_id, decision_reason, eligibility,
             eligibility_passed, eligibility_evaluated_at, eligibility_override_reason, approved_at, created_at,
             updated_at)
        SELECT id, %(program)s, 'approved', submitted_at, approved_at, NULL, '', '[]'::jsonb, true, submitted_at,
               '', approved_at, submitted_at, approved_at
        FROM (
            SELECT id, approved_at, approved_at - random() * interval '10 days' AS submitted_at
            FROM (SELECT id, %(from)s::timestamptz + random() * (%(month)s::timestamptz - %(from)s::timestamptz)
                         AS approved_at
                  FROM partnerships_partner) AS p
        ) AS e
        ORDER BY id
    """
    month_start = dt.datetime(MONTH.year, MONTH.month, MONTH.day, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"program": program.pk, "from": APPROVED_FROM, "month": month_start})
        return cursor.rowcount


def load_metrics() -> int:
    """DAYS rows per partner from MONTH, partner by partner (so every index is appended in order).

    A partner is silent (no views) or has a Pareto-like daily audience (scale / U^(1/alpha), heavy tail, up to
    VIEWS_CEILING); each day draws its views around it; qualified views are 60-95 % of views."""
    from django.db import connection

    sql = f"""
        INSERT INTO partnerships_dailymetric
            (partner_id, day, views, qualified_views, likes, comments, shares, followers, posts)
        SELECT partner_id, day, views, floor(views * qualified_share)::bigint, floor(views * 0.05)::bigint,
               floor(views * 0.006)::bigint, floor(views * 0.004)::bigint, followers + n * growth, posts
        FROM (
            SELECT partner_id, %(start)s::date + n AS day, n, qualified_share, followers, growth,
                   (random() < post_chance)::int AS posts, floor(audience * (0.5 + random()))::bigint AS views
            FROM (
                -- generate_series in the select list: the days of one partner follow each other
                SELECT profile.*, generate_series(0, %(days)s - 1) AS n
                FROM (
                    SELECT id AS partner_id,
                           CASE WHEN random() < {SILENT_SHARE} THEN 0
                                ELSE least({VIEWS_SCALE} * power(1 - random(), (-1 / {PARETO_ALPHA})::float8),
                                           {VIEWS_CEILING}) END AS audience,
                           0.6 + 0.35 * random() AS qualified_share, 0.05 + 0.85 * random() AS post_chance,
                           floor(power(10, 3 + 3.5 * random()))::bigint AS followers,
                           floor(random() * 50)::bigint AS growth
                    FROM partnerships_partner
                    WHERE id BETWEEN %(low)s AND %(high)s
                    ORDER BY id
                ) AS profile
            ) AS partner_day
        ) AS with_views
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM partnerships_partner")
        first, last = cursor.fetchone()
        inserted, started = 0, time.perf_counter()
        for low in range(first, last + 1, METRIC_CHUNK):
            cursor.execute(sql, {"start": MONTH, "days": DAYS, "low": low, "high": low + METRIC_CHUNK - 1})
            inserted += cursor.rowcount
            rate = inserted / (time.perf_counter() - started)
            log(f"    metrics {inserted:,} rows ({rate:,.0f} rows/s)")
    return inserted


def table_sizes() -> list[dict]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname IN
                ('partnerships_partner', 'partnerships_enrolment', 'partnerships_dailymetric')
            ORDER BY 3 DESC
        """)
        return [{"table": t, "rows": rows, "bytes": size} for t, rows, size in cursor.fetchall()]


# =====================================================================================================
# Worker: measure one database
# =====================================================================================================

def rss_mb() -> dict:
    status = Path("/proc/self/status").read_text()
    values = {key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) / 1024 for key in ("VmRSS", "VmHWM")}
    values["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return values


def cpu_busy(seconds: float) -> float:
    """Share of the machine's CPU time that was not idle during `seconds` (this process is idle meanwhile)."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


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
            cursor.execute("""
                SELECT datname, backend_type, round(extract(epoch FROM now() - query_start))::int, left(query, 60)
                FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND state = 'active'
                  AND backend_type IN ('client backend', 'autovacuum worker', 'parallel worker')
                  AND now() - query_start > make_interval(secs => %s)
            """, [QUIET_QUERY_SECONDS])
            others = cursor.fetchall()
        busy = cpu_busy(3)
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
        if waited > QUERY_WAIT_LIMIT:
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


def measure_database(runs: int, max_wait: float, explain: bool) -> dict:
    from django.db import connection

    from core.periods import month_end
    from core.sql import datetime_param
    from partnerships.models import Program
    from payouts.formulas.tables import LINE_TABLE
    from payouts.funds import FundPosition
    from payouts.models import Fund, PayoutRun, ProgramTerms
    from payouts.services.runs import payout_run_compute

    def sql(statement: str, params=None, fetch: bool = False):
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if fetch else cursor.rowcount

    rss_at_start = rss_mb()
    wait_budget = {"left": max_wait}
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
        sql(f"TRUNCATE {LINE_TABLE}, {HANDWRITTEN_TABLE}")
        sql("DELETE FROM payouts_payoutrun WHERE program_id = %s", [program.pk])
        sql("VACUUM payouts_payoutrun")

    def project_run() -> tuple[float, PayoutRun, StatementTimer]:
        timer = StatementTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            run = payout_run_compute(program_id=program.pk, month=MONTH)
        return time.perf_counter() - started, run, timer

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
                rep["project_check"] = check_project(run)
                log(f"  run {index + 1}/{runs}: project {seconds:,.2f} s, {rep['project_check']}")
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
            "settings": settings, "budget": budget, "cap": cap, "sizes": table_sizes(), "aggregate": aggregate}


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
# Report
# =====================================================================================================

def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def describe(sql: str, width: int = 150) -> str:
    text = sql.replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def render_report(args: argparse.Namespace, loads: dict, measured: dict) -> str:
    lines = ["# Payout benchmark: pooled-fund month, project run vs one hand-written statement", "",
             f"Generated {dt.datetime.now():%Y-%m-%d %H:%M} by `bench/payouts.py` (month {MONTH:%Y-%m}, {DAYS} "
             f"days of metrics per partner, {args.runs} timed runs of each path, medians).", "",
             "| size (partners) | project run s | hand-written SQL s | ratio | peak RSS MB | amounts equal? "
             "| sum == budget? |",
             "|---:|---:|---:|---:|---:|---|---|"]
    for result in measured.values():
        reps = result["runs"]
        project, handwritten = median([r["project_s"] for r in reps]), median([r["handwritten_s"] for r in reps])
        equal = all(r["handwritten_check"]["amounts_equal"] for r in reps)
        sums = all(r["project_check"]["sum_equals_budget"] and r["handwritten_check"]["sum_equals_budget"]
                   for r in reps)
        lines.append(f"| {result['partners']:,} | {project:,.2f} | {handwritten:,.2f} | {project / handwritten:.2f} "
                     f"| {result['rss_after']['VmHWM']:,.0f} | {'yes' if equal else 'NO'} | "
                     f"{'yes' if sums else 'NO'} |")
    lines += ["", "The same timings as the database backend's CPU seconds (less sensitive to other work on the "
              "machine, blind to I/O waits), and how busy the machine was meanwhile (cores of 2; each path is one "
              "backend):",
              "", "| size (partners) | project backend CPU s | hand-written backend CPU s | CPU ratio "
              "| machine busy cores, project | machine busy cores, hand-written |", "|---:|---:|---:|---:|---:|---:|"]
    for result in measured.values():
        reps = result["runs"]

        def cpu(rep: dict, path: str) -> float:
            return rep[f"cpu_{path}"]["backend_cores"] * rep[f"cpu_{path}"]["wall"]

        project, handwritten = median([cpu(r, "project") for r in reps]), median([cpu(r, "handwritten") for r in reps])
        busy_project = median([r["cpu_project"]["busy_cores"] for r in reps])
        busy_handwritten = median([r["cpu_handwritten"]["busy_cores"] for r in reps])
        lines.append(f"| {result['partners']:,} | {project:,.2f} | {handwritten:,.2f} | {project / handwritten:.2f} "
                     f"| {busy_project:.2f} | {busy_handwritten:.2f} |")
    lines += ["", "Would batches of partners (Celery tasks, or parallel sessions) help? The split itself is global "
              "(the total weight, the cap's cut and the largest remainders need every member), so only the per-partner "
              "work could be spread: chiefly the members' aggregation over the daily metrics. Here it is alone, as "
              "a plain SELECT, serial and with the server's parallel workers (2 cores; INSERT ... SELECT never runs "
              "in parallel on PostgreSQL 15), beside the project's longest statement:", "",
              "| size (partners) | aggregation, serial s | aggregation, parallel s | speed-up "
              "| project's longest statement s | its share of the run |", "|---:|---:|---:|---:|---:|---:|"]
    for result in measured.values():
        aggregate = result.get("aggregate", {})
        serial, parallel = median(aggregate.get("workers_0", [])), median(aggregate.get("workers_default", []))
        longest = longest_statement(result["runs"])
        project = median([r["project_s"] for r in result["runs"]])
        lines.append(f"| {result['partners']:,} | {serial:,.2f} | {parallel:,.2f} | {serial / parallel:.2f} "
                     f"| {longest:,.2f} | {longest / project:.0%} |")
    lines += ["", f"Targets: ratio ≤ {TARGET_RATIO}; peak RSS of the Python process < {TARGET_RSS_MB} MB at every "
              "size. \"Amounts equal\": every partner's gross amount and capped flag, project line vs hand-written "
              "row (FULL JOIN on partner_id). \"Sum == budget\": both paths, to the cent.", ""]
    for label, result in measured.items():
        reps = result["runs"]
        project_times = [r["project_s"] for r in reps]
        handwritten_times = [r["handwritten_s"] for r in reps]
        check = reps[0]["project_check"]
        statements = len(reps[0]["statements"])
        lines += [f"## {label}: {result['partners']:,} partners", "",
                  f"- project runs (s): {', '.join(f'{t:.2f}' for t in project_times)}; hand-written statement "
                  f"(s): {', '.join(f'{t:.2f}' for t in handwritten_times)}",
                  f"- budget {result['budget']:,} cents, cap {result['cap']:,} cents; {check['lines']:,} lines, "
                  f"{check['capped']:,} capped, {check['rounding_cents']:,} cents placed "
                  f"by largest remainder; max line {check['max_gross']:,}; status {check['status']}; {statements} SQL "
                  "statements in the project's run",
                  f"- hand-written check (run 1): {json.dumps(reps[0]['handwritten_check'])}",
                  f"- RSS MB: after django.setup() {result['rss_start']['VmRSS']:.0f}, peak after the project runs "
                  f"(VmHWM) {result['rss_after']['VmHWM']:.0f}, ru_maxrss {result['rss_after']['ru_maxrss']:.0f}",
                  f"- server settings: {json.dumps(result['settings'])}",
                  f"- waits for a quiet machine before each timing: "
                  f"{json.dumps([[r.get('quiet_project'), r.get('quiet_handwritten')] for r in reps])}",
                  f"- CPU during the timings, [project, hand-written] per run (cores busy on the machine, of which "
                  f"the database backend, this process): "
                  f"{json.dumps([[r.get('cpu_project'), r.get('cpu_handwritten')] for r in reps])}",
                  f"- tables: {json.dumps(result['sizes'])}", ""]
        lines += render_statements(reps)
    for label, load in loads.items():
        lines += [f"## Load ({label})", "", "| step | s | rows |", "|---|---:|---:|"]
        lines += [f"| {s['step']} | {s['seconds']:,.1f} | {s['rows'] if s['rows'] is not None else ''} |"
                  for s in load["steps"]]
        if load.get("reused_from"):
            lines.append(f"\n(reused, loaded at {load['reused_from']})")
        lines.append("")
    for label, result in measured.items():
        plans = result["plans"]
        lines += [f"## Plans ({label}), auto_explain ANALYZE BUFFERS, statements ≥ 200 ms", "",
                  f"Project run under auto_explain: {plans['project_s_under_explain'] or 0:.2f} s.", ""]
        for title, texts in (("project", plans["project"]), ("hand-written", plans["handwritten"])):
            for text in texts:
                lines += [f"### {title}", "", "```", text.strip(), "```", ""]
    return "\n".join(lines) + "\n"


def longest_statement(reps: list[dict]) -> float:
    """Median seconds of the statement that takes longest (same position in every run)."""
    count = min(len(r["statements"]) for r in reps)
    return max(median([r["statements"][p]["seconds"] for r in reps]) for p in range(count)) if count else 0.0


def render_statements(reps: list[dict]) -> list[str]:
    """The project's statements, median seconds per position over the runs (the runs issue the same list)."""
    count = min(len(r["statements"]) for r in reps)
    total = median([r["project_s"] for r in reps])
    rows, small, small_count = [], 0.0, 0
    for position in range(count):
        seconds = median([r["statements"][position]["seconds"] for r in reps])
        statement = reps[0]["statements"][position]
        if seconds < 0.05:
            small, small_count = small + seconds, small_count + 1
            continue
        rows.append(f"| {position + 1} | {seconds:,.2f} | {seconds / total:.0%} | {statement['rows']} "
                    f"| `{describe(statement['sql'])}` |")
    accounted = sum(median([r["statements"][p]["seconds"] for r in reps]) for p in range(count))
    return ["Project statements (median s per statement over the runs):", "",
            "| # | s | share | rows | statement |", "|---:|---:|---:|---:|---|", *rows,
            f"| | {small:,.2f} | {small / total:.0%} | | {small_count} other statements under 50 ms each |",
            f"| | {total - accounted:,.2f} | {(total - accounted) / total:.0%} | | outside any statement: Python "
            "and the COMMIT (execute_wrapper does not see it) |", ""]


# =====================================================================================================
# Entry point
# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=1_000_000, help="partners in the main database")
    parser.add_argument("--small-partners", type=int, default=100_000,
                        help="partners in the second database, to compare memory (0: skip it)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each path")
    parser.add_argument("--reuse", action="store_true", help="keep databases already loaded with the same sizes")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL, no database")
    parser.add_argument("--db", default="cp_bench_payouts")
    parser.add_argument("--small-db", default="cp_bench_payouts_small")
    parser.add_argument("--max-wait", type=float, default=1800,
                        help="seconds (per database, in all) to wait for idle CPUs before timings")
    parser.add_argument("--no-explain", action="store_true", help="skip the untimed auto_explain runs")
    parser.add_argument("--worker", choices=["load", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.worker:
        return run_benchmark(args)
    import django

    django.setup()
    if args.worker == "load":
        result = load_database(args.partners)
    else:
        result = measure_database(args.runs, args.max_wait, explain=not args.no_explain)
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
