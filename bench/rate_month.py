"""The rate program's month (F3, rate per 1,000 qualified views) from the per-video monthly rollups beside the same
month from the daily rows (issue 18: "identical lines to the computation over daily rows: a property test and the
bench check it"), on one database, in one run.

Run by hand from the project root, against a local PostgreSQL (not part of the tests, never run in CI):

    flock /tmp/bench.lock .venv/bin/python bench/rate_month.py                 # 100,000 partners
    flock /tmp/bench.lock .venv/bin/python bench/rate_month.py --partners 20000 --reuse --runs 3

Options: --server, --partners (default 100,000; the database is cp_bench_rate_<partners>), --videos (per partner,
default 3), --runs (timed repetitions of each path, alternating, default 2), --reuse (keep a database loaded with
the same spec).

The load (a worker process, set-based SQL): N partners (bench/data/pooled's generator), a rate program in USD / UTC
(rates by country, a multiplier, a minimum duration of 60 s, an activation floor of 1,000 qualified views, a video cap
and a partner cap) with a fund and a month budget large enough that nobody is scaled, an approved enrolment per
partner (approved in May-July 2026), --videos videos per partner (a fifth at most 60 s long, some posted before the
partner's approval), each with a daily row of qualified views from its posting day (at the earliest 1 August) to
30 September: the activation floor counts August, the month is September. One member in a hundred has a suspension
in the months read (its videos read the daily rows on both paths). Then the video rollups (video_rollups_rebuild),
VACUUM ANALYZE.

The measurement (a second worker process): payout_run_compute for September with the rollups
(rate_per_mille.READ_ROLLUPS = True, what runs) and from the daily rows (False), --runs times each, alternating,
each timed with wall clock and the database backend's CPU, the run deleted between; the lines of every run compared
with the first (partner, basis value, weight, gross, note): they must be identical. The report goes to
bench/results/rate-month.md.
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

REPORT_PATH = harness.RESULTS_DIR / "rate-month.md"
LOAD_VERSION = 1
MONTH = dt.date(2026, 9, 1)
FIRST_DAY = dt.date(2026, 8, 1)
LAST_DAY = dt.date(2026, 9, 30)
PROGRAM_SLUG = "bench-rate"
VIDEO_CHUNK = 20_000  # partners per daily-views INSERT


def database_name(partners: int) -> str:
    return f"cp_bench_rate_{partners}"


# =====================================================================================================
# Load (worker)
# =====================================================================================================

def load(partners: int, videos: int) -> dict:
    from bench.data import insert_per_partner, pooled, table_sizes

    step = harness.LoadSteps()
    harness.execute(*harness.LOAD_SESSION)
    step("partners", lambda: pooled.load_partners(partners))
    program = create_program(partners)
    step("enrolments (approved May-July)", lambda: insert_enrolments(program))
    step("suspensions (1 in 100 members)", lambda: insert_suspensions(program))
    step(f"videos ({videos} per partner)", lambda: insert_videos(videos))
    step("daily views (posting day or 1 August to 30 September)", lambda: insert_per_partner(
        DAILY_VIEWS_SQL, {"first": FIRST_DAY, "last": LAST_DAY}, VIDEO_CHUNK, "daily views", rate=True))
    step("video rollups (video_rollups_rebuild)", rebuild_rollups)
    harness.execute("RESET ALL")
    step("VACUUM ANALYZE", lambda: harness.execute("VACUUM (ANALYZE)"))
    harness.execute("CHECKPOINT")
    sizes = table_sizes("c.relname IN ('payouts_video', 'payouts_videodailyviews', 'payouts_videomonthlyviews')")
    return {"steps": step.steps, "sizes": sizes}


def create_program(partners: int) -> int:
    from decimal import Decimal

    from partnerships.models import Program
    from payouts.models import BudgetTranche, Fund, ProgramTerms

    budget = 100_000 * partners  # 1,000.00 a partner: more than anyone earns, so nobody is scaled
    program = Program.objects.create(slug=PROGRAM_SLUG, name="Bench rate per mille", archetype="rate_per_mille",
                                     currency="USD", time_zone="UTC")
    fund = Fund.objects.create(program=program, name="Bench rate fund", currency="USD", total_minor=budget * 10)
    BudgetTranche.objects.create(fund=fund, starts_on=MONTH, ends_on=MONTH, amount_minor=budget)
    ProgramTerms.objects.create(program=program, rpm_by_country={"US": "2.50", "GB": "2.00", "DE": "1.80", "*": "0.90"},
                                rpm_multiplier=Decimal("1.100"), min_video_qualified_views=1_000,
                                min_video_duration_seconds=60, video_cap_minor=50_000, partner_cap_minor=120_000)
    return program.pk


def insert_enrolments(program: int) -> int:
    from core.sql import execute

    return execute("""
        INSERT INTO partnerships_enrolment
            (partner_id, program_id, status, submitted_at, decided_at, decided_by_id, decision_reason, eligibility,
             eligibility_passed, eligibility_evaluated_at, eligibility_override_reason, approved_at, created_at,
             updated_at)
        SELECT id, %(program)s, 'approved', approved_at, approved_at, NULL, '', '[]'::jsonb, true, approved_at, '',
               approved_at, approved_at, approved_at
        FROM (SELECT id, TIMESTAMPTZ '2026-05-01 00:00+00' + random() * interval '90 days' AS approved_at
              FROM partnerships_partner) p
        ORDER BY id""", {"program": program})


def insert_suspensions(program: int) -> int:
    from core.sql import execute

    return execute("""
        INSERT INTO partnerships_enrolmentsuspension (enrolment_id, starts_on, ends_on, created_at)
        SELECT e.id, DATE '2026-08-20' + (e.id %% 30)::int, DATE '2026-08-25' + (e.id %% 30)::int, now()
        FROM partnerships_enrolment e WHERE e.program_id = %(program)s AND e.partner_id %% 100 = 7""",
                   {"program": program})


def insert_videos(videos: int) -> int:
    from core.sql import execute

    return execute("""
        INSERT INTO payouts_video (partner_id, external_id, posted_at, duration_seconds)
        SELECT p.id, 'bench-' || p.id || '-' || v, TIMESTAMPTZ '2026-06-01 00:00+00' + random() * interval '115 days',
               CASE WHEN random() < 0.2 THEN 15 + floor(random() * 45)::int ELSE 61 + floor(random() * 600)::int END
        FROM partnerships_partner p CROSS JOIN generate_series(1, %(videos)s) AS v
        ORDER BY p.id, v""", {"videos": videos})


# Each video's audience is Pareto-like (heavy tail); a row per day from its posting day (at the earliest FIRST_DAY).
DAILY_VIEWS_SQL = """
    INSERT INTO payouts_videodailyviews (video_id, day, qualified_views)
    SELECT id, day, floor(audience * (0.4 + random()))::bigint
    FROM (
        SELECT v.id, audience, generate_series(greatest(v.posted_at::date, %(first)s::date), %(last)s::date,
                                               interval '1 day')::date AS day
        FROM (SELECT video.id, video.posted_at,
                     least(40 * power(1 - random(), (-1 / 1.2)::float8), 500000) AS audience
              FROM payouts_video video WHERE video.partner_id BETWEEN %(low)s AND %(high)s ORDER BY video.id) v
    ) d"""


def rebuild_rollups() -> int:
    from payouts.services.video_rollups import video_rollups_rebuild

    return video_rollups_rebuild()


# =====================================================================================================
# Measurement (worker)
# =====================================================================================================

def measure(runs: int) -> dict:
    from partnerships.models import Program
    from payouts.formulas import rate_per_mille
    from payouts.models import EarningLine, PayoutRun
    from payouts.services.runs import payout_run_compute

    program = Program.objects.get(slug=PROGRAM_SLUG)

    def compute(path: str) -> PayoutRun:
        rate_per_mille.READ_ROLLUPS = path == "rollups"
        run = payout_run_compute(program_id=program.pk, month=MONTH)
        if run.status != PayoutRun.Status.COMPUTED:
            raise RuntimeError(f"the month ended {run.status}: {run.error}")
        return run

    measured = harness.alternate_paths(
        ("rollups", "daily rows"), runs, reset=PayoutRun.objects.filter(program=program).delete, compute=compute,
        lines_of=lambda run: list(EarningLine.objects.filter(run=run).order_by("partner_id").values_list(
            "partner_id", "basis_value", "weight", "gross_minor", "capped", "note", "status")))
    rate_per_mille.READ_ROLLUPS = True
    PayoutRun.objects.filter(program=program).delete()
    return measured


# =====================================================================================================
# Driver and report
# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=100_000)
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--worker", choices=["load", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_benchmark(args: argparse.Namespace) -> int:
    name = database_name(args.partners)
    env = harness.django_environment(f"{args.server}/{name}", "bench-rate-not-a-secret", CELERY_BROKER_URL=None)
    spec = {"partners": args.partners, "videos": args.videos, "version": LOAD_VERSION}
    loaded = harness.prepare_worker_database(__file__, args, name, env, spec, "--partners", str(args.partners),
                                             "--videos", str(args.videos))
    log(f"measuring {args.partners:,} partners")
    measured = harness.run_worker(__file__, env, "measure", "--runs", str(args.runs))
    harness.write_report(REPORT_PATH, render_report(args, loaded, measured))
    return 0 if measured["identical"] else 1


def render_report(args: argparse.Namespace, loaded: dict, measured: dict) -> str:
    lines = [
        "# The rate program's month from per-video rollups and from daily rows",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')} on commit {harness.git('rev-parse', '--short', 'HEAD').strip()}, "
        f"{os.cpu_count()} cores (shared); {args.partners:,} partners, {args.videos} videos each; load average "
        f"{os.getloadavg()[0]:.1f} at the end. Lines identical on every run: **{measured['identical']}**.",
        "",
        *harness.sizes_table(loaded.get("sizes", [])),
        "",
        *harness.paths_table(measured),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.benchmark_or_worker(args, run_benchmark, load=lambda: load(args.partners, args.videos),
                                       measure=lambda: measure(args.runs))


if __name__ == "__main__":
    sys.exit(main())
