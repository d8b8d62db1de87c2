"""What every benchmark in bench/ needs around its scenario: the log, PostgreSQL as its superuser, a bench
database created (or reused) with a meta table saying what was loaded, the environment of a Django process
pointed at it, manage.py and worker processes, load steps, machine and process readings, the code version
and the report written to bench/results/.

The scripts import it as `from bench import harness` after putting the project root first on the path (Python
puts bench/ there for `python bench/x.py`, and bench/payouts.py would hide the payouts app).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
# Session settings of a load. session_replication_role = replica skips the foreign-key triggers: every generated
# row references rows that exist by construction; CHECK and UNIQUE constraints are still enforced.
LOAD_SESSION = ["SET synchronous_commit = off", "SET maintenance_work_mem = '1GB'", "SET work_mem = '256MB'",
                "SET session_replication_role = replica"]
# Backends (any database) with an active query older than %s seconds: a load, another benchmark, a test run.
OTHER_ACTIVE_QUERIES = """
    SELECT datname, backend_type, round(extract(epoch FROM now() - query_start))::int, left(query, 60)
    FROM pg_stat_activity
    WHERE pid <> pg_backend_pid() AND state = 'active'
      AND backend_type IN ('client backend', 'autovacuum worker', 'parallel worker')
      AND now() - query_start > make_interval(secs => %s)
"""


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


# --- PostgreSQL and the bench database -------------------------------------------------------------------

def connect(url: str, autocommit: bool = True):
    import psycopg

    return psycopg.connect(url, autocommit=autocommit)


def admin_connection(server: str, dbname: str = "postgres"):
    return connect(f"{server}/{dbname}")


def read_meta(server: str, dbname: str) -> dict | None:
    import psycopg

    try:
        with admin_connection(server, dbname) as conn:
            row = conn.execute("SELECT spec, result, loaded_at FROM bench_meta WHERE id = 1").fetchone()
    except psycopg.Error:
        return None
    return {"spec": row[0], "result": row[1], "loaded_at": row[2].isoformat(timespec="minutes")} if row else None


def prepare_database(*, server: str, name: str, spec: dict, reuse: bool, migrate, load, ready=None) -> dict:
    """The load's result (its steps first): reused when --reuse finds bench_meta saying the database was loaded
    with `spec`, else the database is dropped, created, migrated (`migrate()`, timed as the first step) and
    loaded (`load()`), and bench_meta records it. `ready()` runs after the migration either way, untimed."""
    if reuse:
        meta = read_meta(server, name)
        if meta and meta["spec"] == spec:
            log(f"{name}: reusing the data loaded at {meta['loaded_at']}")
            migrate()
            if ready:
                ready()
            return {**meta["result"], "reused_from": meta["loaded_at"]}
        log(f"{name}: not loaded with {spec}, loading it")
    log(f"{name}: dropping and creating the database")
    with admin_connection(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    migrate()
    migrate_seconds = time.perf_counter() - started
    if ready:
        ready()
    result = load()
    result["steps"].insert(0, {"step": "migrate", "seconds": migrate_seconds, "rows": None})
    with admin_connection(server, name) as conn:
        conn.execute("CREATE TABLE bench_meta (id int PRIMARY KEY, spec jsonb, result jsonb, loaded_at timestamptz)")
        conn.execute("INSERT INTO bench_meta VALUES (1, %s, %s, now())", [json.dumps(spec), json.dumps(result)])
    return result


# --- Django processes ------------------------------------------------------------------------------------

def django_environment(database_url: str, secret_key: str, **overrides: str | None) -> dict[str, str]:
    """This process's environment with the settings a bench Django process reads; None removes a variable."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "SECRET_KEY": secret_key, "DEBUG": "false", "LOG_LEVEL": "WARNING", **overrides}
    return {key: value for key, value in env.items() if value is not None}


def run_manage(env: dict, *command: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], cwd=ROOT, env=env, check=True,
                          **popen)


def run_worker(script: str, env: dict, phase: str, *options: str, quiet: bool = False) -> dict:
    """Run `script` as a worker process (`--worker phase --out file`) in `env`; it hands its result back as JSON.
    `quiet`: the worker's output is shown only if it fails."""
    with tempfile.NamedTemporaryFile(prefix=f"bench-{Path(script).stem}-", suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, str(Path(script).resolve()), "--worker", phase, "--out", str(out), *options]
    try:
        finished = subprocess.run(command, cwd=ROOT, env=env, check=not quiet, capture_output=quiet, text=True)
        if finished.returncode != 0:
            raise RuntimeError(f"worker {phase} {options} failed:\n{finished.stdout}\n{finished.stderr}")
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def prepare_worker_database(script: str, args, name: str, env: dict, spec: dict, *load_options: str) -> dict:
    """prepare_database for a script whose worker process loads the database (`--worker load`)."""
    return prepare_database(server=args.server, name=name, spec=spec, reuse=args.reuse,
                            migrate=lambda: run_manage(env, "migrate", "--noinput", "-v", "0"),
                            load=lambda: run_worker(script, env, "load", *load_options))


def execute(*statements: str) -> None:
    """Run statements on Django's default connection (session settings, VACUUM, CHECKPOINT)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


class LoadSteps:
    """Times the steps of a load, logs them and keeps them for the report (`digits`: seconds rounded)."""

    def __init__(self, digits: int | None = None) -> None:
        self.steps: list[dict] = []
        self.digits = digits

    def __call__(self, label: str, function) -> None:
        log(f"  {label} ...")
        started = time.perf_counter()
        rows = function()
        seconds = time.perf_counter() - started
        self.steps.append({"step": label, "rows": rows,
                           "seconds": seconds if self.digits is None else round(seconds, self.digits)})
        log(f"  {label}: {seconds:,.1f} s" + (f", {rows:,} rows" if rows is not None else ""))


def explain(connection, sql: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a statement on a Django connection, as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def backend_pid() -> int:
    """The database backend of Django's default connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def backend_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process on this machine, e.g. a database backend."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alternate_paths(paths: tuple[str, str], runs: int, *, reset, compute, lines_of) -> dict:
    """Two ways of computing the same thing, ``runs`` times each, alternating which goes first (a, b, b, a, ...):
    before each, ``reset()`` and a CHECKPOINT; ``compute(path)`` timed (wall clock and the database backend's CPU)
    returns what ``lines_of`` reads the result's lines from (tuples whose fourth item is an amount, summed as
    ``gross``). Every run's lines are compared with the first run's. Returns the timings by path and whether all
    lines were identical."""
    backend = backend_pid()
    timings: dict[str, list[dict]] = {path: [] for path in paths}
    reference: list | None = None
    identical = True
    for number in range(2 * runs):
        path = paths[(number + number // 2) % 2]
        reset()
        execute("CHECKPOINT")
        load_before = os.getloadavg()[0]
        cpu, started = backend_cpu_seconds(backend), time.perf_counter()
        result = compute(path)
        seconds = time.perf_counter() - started
        cpu = backend_cpu_seconds(backend) - cpu
        lines = lines_of(result)
        if reference is None:
            reference = lines
        identical = identical and lines == reference
        timings[path].append({"seconds": seconds, "backend_cpu": cpu, "lines": len(lines),
                              "gross": sum(line[3] for line in lines), "load": load_before})
        log(f"  {path}: {seconds:.1f} s, {len(lines):,} lines, identical so far: {identical}")
    return {"timings": timings, "identical": identical}


def paths_table(measured: dict) -> list[str]:
    """alternate_paths' timings as a Markdown table, then the best of each path and their ratio (first ÷ second)."""
    lines = ["| path | run | wall s | database CPU s | lines | gross | load before |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for path, runs in measured["timings"].items():
        for number, run in enumerate(runs, start=1):
            lines.append(f"| {path} | {number} | {run['seconds']:.2f} | {run['backend_cpu']:.2f} | {run['lines']:,} | "
                         f"{run['gross']:,} | {run['load']:.1f} |")
    (first, first_runs), (second, second_runs) = measured["timings"].items()
    wall = [min(run["seconds"] for run in runs) for runs in (first_runs, second_runs)]
    cpu = [min(run["backend_cpu"] for run in runs) for runs in (first_runs, second_runs)]
    lines += ["", f"Best of each: {first} {wall[0]:.2f} s, {second} {wall[1]:.2f} s (**{wall[0] / wall[1]:.2f}x**); "
                  f"database CPU {cpu[0]:.2f} s and {cpu[1]:.2f} s (**{cpu[0] / max(cpu[1], 0.01):.2f}x**)."]
    return lines


def sizes_table(sizes: list[dict]) -> list[str]:
    """data.table_sizes' rows (table, rows, bytes) as a Markdown table."""
    return ["| table | rows | MB |", "|---|---:|---:|",
            *(f"| {s['table']} | {s['rows']:,} | {s['bytes'] / 1e6:,.0f} |" for s in sizes)]


def benchmark_or_worker(args: argparse.Namespace, run_benchmark: Callable[[argparse.Namespace], int],
                        load: Callable[[], dict], measure: Callable[[], dict]) -> int:
    """A script's entry point: the benchmark itself, or (--worker, in the fresh Django process run_worker starts)
    its ``load`` or ``measure`` phase, whose result is written as JSON to --out."""
    if not args.worker:
        return run_benchmark(args)
    import django

    django.setup()
    result = load() if args.worker == "load" else measure()
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


# --- the machine and this process ------------------------------------------------------------------------

def cpu_busy(seconds: float) -> float:
    """Share of the machine's CPU time that was not idle during `seconds` (this process sleeps meanwhile)."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def memory_mb(key: str) -> float:
    """A line of /proc/self/status in MB: VmRSS (now) or VmHWM (the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def nearest_rank(values: list[float], percent: float) -> float:
    import math

    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def git(*command: str) -> str:
    """A read-only git command in the project (never refreshes the index)."""
    return subprocess.run(["git", "--no-optional-locks", "-C", str(ROOT), *command], capture_output=True,
                          text=True).stdout


# --- command line and report -----------------------------------------------------------------------------

def argument_parser(description: str) -> argparse.ArgumentParser:
    """The script's parser, with --server, which every benchmark has."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL, no database")
    return parser


def write_report(path: Path, report: str) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(report)
    print()
    print(report)
    log(f"written to {path.relative_to(ROOT)}")
