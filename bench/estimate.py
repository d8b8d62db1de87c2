"""A pooled fund's month-to-date estimate (issue 18: "the daily month-to-date estimate benefits the same way"): the
estimate from the monthly rollups beside the same estimate from the daily rows, on one database, in one run.

Run by hand from the project root, against a local PostgreSQL (not part of the tests, never run in CI):

    flock /tmp/bench.lock .venv/bin/python bench/estimate.py                  # 1,000,000 partners, 20 days
    flock /tmp/bench.lock .venv/bin/python bench/estimate.py --partners 100000 --reuse --runs 3

Options: --server, --partners (default 1,000,000; the database is cp_bench_estimate_<partners>), --days (days of the
month loaded, default 20: the estimate is asked on the 20th), --runs (timed repetitions of each path, alternating,
default 2), --reuse (keep a database loaded with the same spec).

The load (a worker process, set-based SQL): bench/payouts.py's pooled fund (bench/data/pooled: its program, terms,
fund and tranche for September 2026, its partners and approved enrolments), September's first --days days of daily
metrics for every partner (the same generator), then their monthly rollups (metric_rollups_rebuild), VACUUM ANALYZE.
So the month's rollups hold the days so far, as the daily loads leave them mid-month.

The measurement (a second worker process, "today" in the program's time zone set to September's --days-th day, as
the beat's estimate task would see it): payout_run_compute(kind="estimate") for September with the rollups
(pooled.READ_ROLLUPS = True, what runs) and from the daily rows (False), --runs times each, alternating, each timed
with wall clock and the database backend's CPU, the run deleted between; the lines of every run compared with the
first (partner, basis value, weight, gross, capped, note): they must be identical. The report goes to
bench/results/estimate.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench.harness import log  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "estimate.md"
LOAD_VERSION = 1


def database_name(partners: int) -> str:
    return f"cp_bench_estimate_{partners}"


def load(partners: int, days: int) -> dict:
    from bench.data import pooled, table_sizes

    pooled.DAYS = days  # load_metrics writes the month's first DAYS days
    step = harness.LoadSteps()
    harness.execute(*harness.LOAD_SESSION)
    step("program, fund, tranche, terms (ORM)", lambda: pooled.create_program(partners))
    step("partners", lambda: pooled.load_partners(partners))
    step("enrolments (approved)", pooled.load_enrolments)
    step(f"daily metrics ({days} days per partner)", pooled.load_metrics)
    step("monthly rollups (metric_rollups_rebuild)", pooled.rebuild_rollups)
    harness.execute("RESET ALL")
    step("VACUUM ANALYZE", lambda: harness.execute("VACUUM (ANALYZE)"))
    harness.execute("CHECKPOINT")
    sizes = table_sizes("c.relname ~ '^partnerships_(dailymetric|monthlymetricrollup)'")  # with the partitions
    return {"steps": step.steps, "sizes": sizes}


def measure(runs: int, days: int) -> dict:
    from bench.data import pooled as pooled_data
    from partnerships.models import Program
    from payouts.formulas import pooled
    from payouts.models import EarningLine, PayoutRun
    from payouts.services import runs as run_services

    today = pooled_data.MONTH + dt.timedelta(days=days - 1)
    run_services.program_today = lambda program: today  # the estimate task on that day
    program = Program.objects.get(slug=pooled_data.PROGRAM_SLUG)

    def compute(path: str) -> PayoutRun:
        pooled.READ_ROLLUPS = path == "rollups"
        run = run_services.payout_run_compute(program_id=program.pk, month=pooled_data.MONTH,
                                              kind=PayoutRun.Kind.ESTIMATE)
        if run.status != PayoutRun.Status.COMPUTED or run.as_of != today:
            raise RuntimeError(f"the estimate ended {run.status} as of {run.as_of}: {run.error}")
        return run

    measured = harness.alternate_paths(
        ("rollups", "daily rows"), runs, reset=PayoutRun.objects.filter(program=program).delete, compute=compute,
        lines_of=lambda run: list(EarningLine.objects.filter(run=run).order_by("partner_id").values_list(
            "partner_id", "basis_value", "weight", "gross_minor", "capped", "note")))
    pooled.READ_ROLLUPS = True
    PayoutRun.objects.filter(program=program).delete()
    return {**measured, "as_of": today.isoformat()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=20, choices=range(2, 30), metavar="2..29")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--worker", choices=["load", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_benchmark(args: argparse.Namespace) -> int:
    name = database_name(args.partners)
    env = harness.django_environment(f"{args.server}/{name}", "bench-estimate-not-a-secret", CELERY_BROKER_URL=None)
    spec = {"partners": args.partners, "days": args.days, "version": LOAD_VERSION}
    loaded = harness.prepare_worker_database(__file__, args, name, env, spec, "--partners", str(args.partners),
                                             "--days", str(args.days))
    log(f"measuring {args.partners:,} partners")
    measured = harness.run_worker(__file__, env, "measure", "--runs", str(args.runs), "--days", str(args.days))
    harness.write_report(REPORT_PATH, render_report(args, loaded, measured))
    return 0 if measured["identical"] else 1


def render_report(args: argparse.Namespace, loaded: dict, measured: dict) -> str:
    lines = [
        "# A pooled fund's month-to-date estimate from monthly rollups and from daily rows",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')} on commit {harness.git('rev-parse', '--short', 'HEAD').strip()}, "
        f"{os.cpu_count()} cores (shared); {args.partners:,} partners, {args.days} days loaded, the estimate as of "
        f"{measured['as_of']}; load average {os.getloadavg()[0]:.1f} at the end. Lines identical on every run: "
        f"**{measured['identical']}**.",
        "",
        *harness.sizes_table(loaded.get("sizes", [])),
        "",
        *harness.paths_table(measured),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.benchmark_or_worker(args, run_benchmark, load=lambda: load(args.partners, args.days),
                                       measure=lambda: measure(args.runs, args.days))


if __name__ == "__main__":
    sys.exit(main())
