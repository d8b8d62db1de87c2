"""Admin benchmark: the large-table changelists on 1,000,000 partners beside the same pages on 10,000.

Run by hand from the project root, against a local PostgreSQL (not part of the tests, never run in CI):

    .venv/bin/python bench/admin.py              # (re)create both databases, load them, measure
    .venv/bin/python bench/admin.py --reuse      # keep databases already loaded with the same sizes
    .venv/bin/python bench/admin.py --partners 200000 --small-partners 2000 --days 30 --runs 20

Other options: --server (default postgres://postgres@127.0.0.1:5432), --large-db / --small-db (database
names, default cp_bench_large / cp_bench_small), --runs (timed requests per page, default 20), --warmup (3).
Loading the large database takes tens of minutes: run it under nohup and follow the log.

What it does:

1. for each database (large: --partners, small: --small-partners), drops and recreates it (unless --reuse
   finds it loaded with the same sizes) and migrates it;
2. loads it with set-based SQL (INSERT ... SELECT over generate_series, never the ORM): partners of every
   kind and country with 1-3 categories, --days daily metric rows per partner (30,000,000 for the large
   one), the demo's programs, about one application per partner spread over the programs in every status
   with an eligibility snapshot shaped as eligibility.evaluate() writes it; then it runs the project's
   partnerships.services.statistics.partner_statistics_refresh() (timed) and VACUUM ANALYZE. History tables
   are not filled;
3. one Django process with a connection to each database (a router picks the database per request)
   requests each page with django.test.Client, logged in as a superuser and as a member of "Partnership
   managers": warm-up requests, then --runs timed ones (median and nearest-rank p95), on the small and the
   large database alternately, so that whatever else runs on the machine weighs on both twins alike. One
   more request per page runs under CaptureQueriesContext to count the queries, look for a COUNT(*) without
   WHERE over a big table, and EXPLAIN (ANALYZE, BUFFERS) its slowest query (and the search's result query).

At the end it prints the results table and writes it, with the load timings and the query plans, to
bench/results/admin.md (git-ignored). Targets (from the issue), per page: large median at most 1.5 times
the small one, at most 8 queries, no COUNT(*) without WHERE over a big table, and the partner search served
by an index.

Each worker process gets DATABASE_URL, SECRET_KEY, DEBUG=false and ALLOWED_HOSTS=testserver from this
script. The databases are kept for --reuse (about 10 GB for the large one); drop them with
    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE cp_bench_large' -c 'DROP DATABASE cp_bench_small'
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
REPORT_PATH = RESULTS_DIR / "admin.md"

# Run as `python bench/admin.py`, Python puts bench/ first on the path; the project root is what we need.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

LOAD_VERSION = 1  # bump when the generated data changes, so --reuse reloads
BENCH_SUPERUSER, BENCH_MANAGER = "bench_admin", "bench_manager"
MANAGER_GROUP = "Partnership managers"
BIG_TABLES = (
    "partnerships_partner", "partnerships_partner_categories", "partnerships_partnerstatistics",
    "partnerships_dailymetric", "partnerships_enrolment",
)
TARGET_RATIO, TARGET_QUERIES = 1.5, 8
TRIGRAM_INDEXES = ("partner_handle_trgm_idx", "partner_display_name_trgm_idx")
ENROLMENTS_PER_PARTNER = 1.0
PARTNER_CHUNK, METRIC_CHUNK = 250_000, 50_000  # partners per INSERT statement
# Cumulative shares of the application statuses drawn for generated enrolments.
STATUS_DRAW = [("submitted", 0.20), ("approved", 0.62), ("rejected", 0.80), ("suspended", 0.84), ("ended", 0.90),
               ("withdrawn", 1.00)]
# Session settings of the load. session_replication_role = replica skips the foreign-key triggers: every
# generated row references rows that exist by construction; CHECK and UNIQUE constraints are still enforced.
LOAD_SESSION = ["SET synchronous_commit = off", "SET maintenance_work_mem = '1GB'", "SET work_mem = '256MB'",
                "SET session_replication_role = replica"]


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


# =====================================================================================================
# Orchestration (this process never imports Django: each database gets its own worker process)
# =====================================================================================================

def run_benchmark(args: argparse.Namespace) -> int:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    databases = {"small": (args.small_db, args.small_partners), "large": (args.large_db, args.partners)}
    loads = {label: prepare_database(args, name, partners) for label, (name, partners) in databases.items()}
    log("measuring: each page on the small and the large database, alternately")
    names = ",".join(f"{label}={name}" for label, (name, _) in databases.items())
    version = code_version()  # the worker imports the code as it is now
    measured = run_worker(args, args.small_db, "measure", "--databases", names, "--runs", str(args.runs),
                          "--warmup", str(args.warmup))
    measured["code"] = version if code_version() == version else f"{version} (changed to {code_version()} since)"
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
    spec = {"partners": partners, "days": args.days, "version": LOAD_VERSION}
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
    result = run_worker(args, name, "load", "--partners", str(partners), "--days", str(args.days))
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
        "SECRET_KEY": "bench-admin-not-a-secret",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "LOG_LEVEL": "WARNING",
    })
    return env


def run_manage(args: argparse.Namespace, dbname: str, *command: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], cwd=ROOT,
                   env=worker_environment(args, dbname), check=True)


def run_worker(args: argparse.Namespace, dbname: str, phase: str, *options: str) -> dict:
    """Run this script as a worker process pointed at one database; it hands its result back as JSON."""
    with tempfile.NamedTemporaryFile(prefix="bench-admin-", suffix=".json", delete=False) as handle:
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

def load_database(partners: int, days: int) -> dict:
    from django.db import connection

    from partnerships.models import DailyMetric, Enrolment, Partner, PartnerStatistics
    from partnerships.services.statistics import partner_statistics_refresh

    steps: list[dict] = []

    def step(label: str, function) -> None:
        log(f"  {label} ...")
        started = time.perf_counter()
        rows = function()
        seconds = time.perf_counter() - started
        steps.append({"step": label, "seconds": seconds, "rows": rows})
        log(f"  {label}: {seconds:,.1f} s" + (f", {rows:,} rows" if rows is not None else ""))

    def session(statements: list[str]) -> None:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def vacuum(*models) -> None:
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")

    today = dt.date.today()
    session(LOAD_SESSION)
    step("users, categories, programs (ORM)", create_reference_data)
    step("partners", lambda: load_partners(partners))
    step("partner categories (m2m)", load_categories)
    step(f"daily metrics ({days} days per partner)", lambda: load_metrics(days, today))
    step("VACUUM ANALYZE partners, metrics", lambda: vacuum(Partner, Partner.categories.through, DailyMetric))
    # The nightly job runs with the server's settings, so the load's session settings are put back first.
    session(["RESET ALL"])
    step("partner_statistics_refresh() (project code)",
         lambda: partner_statistics_refresh(as_of=today - dt.timedelta(days=1)))
    session(LOAD_SESSION)
    step("enrolments", load_enrolments)
    step("VACUUM ANALYZE statistics, enrolments", lambda: vacuum(PartnerStatistics, Enrolment))
    session(["RESET ALL", "CHECKPOINT"])
    return {"steps": steps, "snapshot_check": check_eligibility_snapshots(), "sizes": table_sizes()}


def create_reference_data() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from partnerships import demo
    from partnerships.models import Category, Program

    user_model = get_user_model()
    user_model.objects.update_or_create(username=BENCH_SUPERUSER,
                                        defaults={"is_staff": True, "is_superuser": True})
    manager, _ = user_model.objects.update_or_create(username=BENCH_MANAGER,
                                                     defaults={"is_staff": True, "is_superuser": False})
    manager.groups.add(Group.objects.get(name=MANAGER_GROUP))
    for name in demo.CATEGORIES:
        Category.objects.get_or_create(slug=name.lower(), defaults={"name": name})
    for spec in demo.PROGRAMS:
        Program.objects.update_or_create(slug=spec["slug"], defaults=spec)


def load_partners(count: int) -> int:
    """People and organisations with the demo's names, kinds and countries; handles are unique by suffix."""
    from django.db import connection

    from partnerships import demo
    from partnerships.models import Partner

    total_weight = sum(weight for _, weight in demo.KINDS)
    cumulative, kind_cases = 0, []
    for kind, weight in demo.KINDS:
        cumulative += weight
        kind_cases.append(f"WHEN r_kind < {cumulative / total_weight} THEN '{kind.value}'")
    kind_case = "CASE " + " ".join(kind_cases[:-1]) + f" ELSE '{demo.KINDS[-1][0].value}' END"
    organisations = ", ".join(f"'{kind}'" for kind in sorted(Partner.ORGANISATION_KINDS))

    def pick(array: str, random_column: str) -> str:
        return f"(%({array})s::text[])[1 + floor({random_column} * cardinality(%({array})s::text[]))::int]"

    sql = f"""
        INSERT INTO {Partner._meta.db_table}
            (kind, handle, display_name, country, date_of_birth, age_verified, status, status_reason,
             status_changed_at, tax_form_on_file, identity_verified, opted_into_brand_deals, created_at, updated_at)
        SELECT kind,
               CASE WHEN organisation THEN lower(org_name) || '.' || lower(org_word) || n
                    ELSE first_name || '.' || topic || n END,
               CASE WHEN organisation THEN initcap(org_name) || ' ' || org_word
                    ELSE initcap(first_name) || ' ' || topic END,
               country,
               CASE WHEN NOT organisation AND r_birth < 0.85 THEN
                    CURRENT_DATE - CASE WHEN r_adult < 0.97 THEN 18 * 365 + 5 + floor(r_age * 42 * 365)::int
                                        ELSE 13 * 365 + floor(r_age * 4 * 365)::int END
               END,
               NOT organisation AND r_birth >= 0.85 AND r_verified < 0.5,
               status,
               CASE status WHEN 'active' THEN '' WHEN 'suspended' THEN 'Bench: community guidelines review'
                           ELSE 'Bench: account closed' END,
               CASE WHEN status <> 'active' THEN created_at + interval '30 days' END,
               r_tax < 0.8, r_identity < 0.85, r_brand < 0.4, created_at, created_at
        FROM (
            SELECT n, kind, kind IN ({organisations}) AS organisation, first_name, topic, org_name, org_word,
                   country, status, created_at, r_birth, r_adult, r_age, r_verified, r_tax, r_identity, r_brand
            FROM (
                SELECT n, {kind_case} AS kind,
                       {pick("first", "random()")} AS first_name, {pick("topic", "random()")} AS topic,
                       {pick("first", "random()")} AS org_name, {pick("org_words", "random()")} AS org_word,
                       CASE WHEN random() < 0.25 THEN {pick("eu", "random()")}
                            ELSE {pick("countries", "random()")} END AS country,
                       CASE WHEN r_status < 0.97 THEN 'active' WHEN r_status < 0.99 THEN 'suspended'
                            ELSE 'removed' END AS status,
                       now() - random() * interval '900 days' AS created_at,
                       random() AS r_birth, random() AS r_adult, random() AS r_age, random() AS r_verified,
                       random() AS r_tax, random() AS r_identity, random() AS r_brand
                FROM (SELECT n, random() AS r_kind, random() AS r_status
                      FROM generate_series(%(low)s, %(high)s) AS n) AS draws
            ) AS drawn
        ) AS partner
        ORDER BY n
    """
    params = {"first": demo.FIRST, "topic": demo.TOPIC, "org_words": demo.ORG_WORDS, "eu": demo.EU_COUNTRIES,
              "countries": demo.COUNTRIES}
    inserted = 0
    with connection.cursor() as cursor:
        for low in range(1, count + 1, PARTNER_CHUNK):
            high = min(count, low + PARTNER_CHUNK - 1)
            cursor.execute(sql, {**params, "low": low, "high": high})
            inserted += cursor.rowcount
            log(f"    partners {inserted:,} / {count:,}")
    return inserted


def load_categories() -> int:
    """One to three distinct categories per partner, through the m2m table."""
    from django.db import connection

    from partnerships.models import Category, Partner

    ids = list(Category.objects.order_by("pk").values_list("pk", flat=True))
    sql = f"""
        INSERT INTO {Partner.categories.through._meta.db_table} (partner_id, category_id)
        SELECT p.id, (%(ids)s::bigint[])[1 + ((p.id * 7 + k * %(step)s) %% %(n)s)::int]
        FROM {Partner._meta.db_table} p CROSS JOIN generate_series(0, 2) AS k
        WHERE k <= p.id %% 3
        ORDER BY p.id, k
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids, "step": len(ids) // 3, "n": len(ids)})
        return cursor.rowcount


def load_metrics(days: int, today: dt.date) -> int:
    """`days` rows per partner ending yesterday, partner by partner (so every index is appended in order).

    Each partner has a follower base (1K to 6M, log-uniform), a growth rate, a reach, a posting habit and an
    engagement rate; each day draws posts and views from them. qualified_views stays below views."""
    from django.db import connection

    from partnerships.models import DailyMetric, Partner

    sql = f"""
        INSERT INTO {DailyMetric._meta.db_table}
            (partner_id, day, views, qualified_views, likes, comments, shares, followers, posts)
        SELECT partner_id, day, views, floor(views * qualified_share)::bigint,
               floor(views * engagement * 0.80)::bigint, floor(views * engagement * 0.12)::bigint,
               floor(views * engagement * 0.08)::bigint, followers, posts
        FROM (
            SELECT partner_id, day, engagement, followers, posts, 0.6 + 0.35 * random() AS qualified_share,
                   floor(followers * reach * CASE WHEN posts = 1 THEN 1.0 ELSE 0.3 END * (0.5 + random()))::bigint
                       AS views
            FROM (
                SELECT partner_id, %(start)s::date + n AS day, reach, engagement,
                       floor(base_followers * power(1 + growth, n))::bigint AS followers,
                       (random() < post_chance)::int AS posts
                FROM (
                    -- generate_series in the select list: the days of one partner follow each other
                    SELECT profile.*, generate_series(0, %(days)s - 1) AS n
                    FROM (
                        SELECT id AS partner_id, power(10, 3 + 3.8 * random()) AS base_followers,
                               -0.002 + 0.012 * random() AS growth, 0.05 + 0.75 * random() AS reach,
                               0.05 + 0.85 * random() AS post_chance, 0.02 + 0.10 * random() AS engagement
                        FROM {Partner._meta.db_table}
                        WHERE id BETWEEN %(low)s AND %(high)s
                        ORDER BY id
                    ) AS profile
                ) AS partner_day
            ) AS with_posts
        ) AS with_views
    """
    start = today - dt.timedelta(days=days)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {Partner._meta.db_table}")
        first, last = cursor.fetchone()
        inserted, started = 0, time.perf_counter()
        for low in range(first, last + 1, METRIC_CHUNK):
            cursor.execute(sql, {"start": start, "days": days, "low": low, "high": low + METRIC_CHUNK - 1})
            inserted += cursor.rowcount
            rate = inserted / (time.perf_counter() - started)
            log(f"    metrics {inserted:,} rows ({rate:,.0f} rows/s)")
    return inserted


def load_enrolments() -> int:
    """About ENROLMENTS_PER_PARTNER applications per partner (removed partners cannot apply), each pair once,
    in every status, with the eligibility snapshot eligibility.evaluate() would store for the partner's
    current statistics. Minors are never approved; approvals that fail a soft rule carry an override."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from partnerships.models import Enrolment, Partner, PartnerStatistics, Program

    programs = list(Program.objects.order_by("pk"))
    rules = [
        (
            program.pk, list(program.allowed_kinds or []), list(program.allowed_countries or []),
            ", ".join(Partner.Kind(kind).label for kind in program.allowed_kinds) if program.allowed_kinds else "any",
            ", ".join(program.allowed_countries) if program.allowed_countries else "any",
            program.min_age, program.min_followers, program.min_views_30d, program.min_posts_30d,
            program.require_good_standing,
        )
        for program in programs
    ]
    manager_id = get_user_model().objects.get(username=BENCH_MANAGER).pk
    status_case = "CASE " + " ".join(f"WHEN r_status < {share} THEN '{status}'" for status, share in STATUS_DRAW[:-1])
    status_case += f" ELSE '{STATUS_DRAW[-1][0]}' END"
    number = "to_char({}, 'FM999,999,999,999,990')"

    def rule(code: str, label: str, value: str, threshold: str, passed: str, hard: bool = False) -> str:
        return (f"jsonb_build_object('rule', '{code}', 'label', '{label}', 'value', {value}, "
                f"'threshold', {threshold}, 'passed', {passed}, 'hard', {'true' if hard else 'false'})")

    snapshot = "jsonb_build_array(" + ", ".join([
        rule("kind", "Partner kind", "kind_label", "kinds_threshold", "kind_passed"),
        rule("country", "Country", "country", "countries_threshold", "country_passed"),
        rule("age", "Minimum age", "age_value",
             "CASE WHEN organisation THEN 'n/a for organisations' ELSE '≥ ' || min_age || ' years' END",
             "age_passed", hard=True),
        rule("good_standing", "Good standing", "status_label",
             "CASE WHEN good_standing THEN 'Active' ELSE 'any' END", "standing_passed"),
        rule("followers", "Followers", number.format("followers"), "'≥ ' || " + number.format("min_followers"),
             "followers >= min_followers"),
        rule("views_30d", "Views, last 30 days", number.format("views"), "'≥ ' || " + number.format("min_views"),
             "views >= min_views"),
        rule("posts_30d", "Posts, last 30 days", number.format("posts"), "'≥ ' || " + number.format("min_posts"),
             "posts >= min_posts"),
    ]) + ")"
    decided = "status IN ('approved', 'suspended', 'ended')"
    sql = f"""
        INSERT INTO {Enrolment._meta.db_table}
            (partner_id, program_id, status, submitted_at, decided_at, decided_by_id, decision_reason,
             eligibility, eligibility_passed, eligibility_evaluated_at, eligibility_override_reason, approved_at,
             created_at, updated_at)
        SELECT partner_id, program_id, status, submitted_at,
               CASE WHEN status <> 'submitted' THEN decided_at END,
               CASE WHEN status <> 'submitted' THEN %(manager)s::bigint END,
               CASE status WHEN 'rejected' THEN 'Bench: does not meet the program''s rules'
                           WHEN 'suspended' THEN 'Bench: invalid traffic under investigation'
                           WHEN 'ended' THEN 'Bench: contract ended'
                           WHEN 'withdrawn' THEN 'Bench: partner withdrew the application' ELSE '' END,
               {snapshot}, passed, submitted_at,
               CASE WHEN {decided} AND NOT passed THEN 'Bench: strategic partner' ELSE '' END,
               CASE WHEN {decided} THEN decided_at END,
               submitted_at, CASE WHEN status = 'submitted' THEN submitted_at ELSE decided_at END
        FROM (
            SELECT *, CASE WHEN drawn IN ('approved', 'suspended', 'ended') AND NOT age_passed THEN 'rejected'
                           ELSE drawn END AS status,
                   kind_passed AND country_passed AND age_passed AND standing_passed AND followers >= min_followers
                       AND views >= min_views AND posts >= min_posts AS passed
            FROM (
                SELECT *,
                       cardinality(kinds) = 0 OR kind = ANY(kinds) AS kind_passed,
                       cardinality(countries) = 0 OR country = ANY(countries) AS country_passed,
                       CASE WHEN organisation THEN 'organisation'
                            WHEN date_of_birth IS NOT NULL THEN age_years || ' years'
                            WHEN age_verified THEN 'verified adult' ELSE 'unknown' END AS age_value,
                       CASE WHEN organisation THEN true
                            WHEN date_of_birth IS NOT NULL THEN age_years >= min_age
                            WHEN age_verified THEN min_age <= 18 ELSE min_age = 0 END AS age_passed,
                       NOT good_standing OR partner_status = 'active' AS standing_passed,
                       {status_case} AS drawn,
                       submitted_at + r_decided * interval '20 days' AS decided_at
                FROM (
                    SELECT p.id AS partner_id, p.kind, p.country, p.status AS partner_status, p.date_of_birth,
                           p.age_verified, p.kind IN ('publisher', 'institution') AS organisation,
                           extract(year FROM age(CURRENT_DATE, p.date_of_birth))::int AS age_years,
                           (%(kind_labels)s::text[])[array_position(%(kinds)s::text[], p.kind::text)] AS kind_label,
                           (%(status_labels)s::text[])[array_position(%(statuses)s::text[], p.status::text)]
                               AS status_label,
                           coalesce(s.followers, 0) AS followers, coalesce(s.views_30d, 0) AS views,
                           coalesce(s.posts_30d, 0) AS posts, r.*,
                           random() AS r_status, random() AS r_decided,
                           now() - random() * interval '120 days' AS submitted_at
                    FROM {Partner._meta.db_table} p
                    CROSS JOIN bench_program_rule r
                    LEFT JOIN {PartnerStatistics._meta.db_table} s ON s.partner_id = p.id
                    WHERE p.status <> 'removed' AND random() < %(share)s
                ) AS pair
            ) AS evaluated
        ) AS decided
    """
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE TEMPORARY TABLE bench_program_rule (
                program_id bigint, kinds text[], countries text[], kinds_threshold text, countries_threshold text,
                min_age int, min_followers bigint, min_views bigint, min_posts int, good_standing bool)
        """)
        cursor.executemany("INSERT INTO bench_program_rule VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rules)
        cursor.execute(sql, {
            "manager": manager_id, "share": ENROLMENTS_PER_PARTNER / len(programs),
            "kinds": Partner.Kind.values, "kind_labels": [str(label) for label in Partner.Kind.labels],
            "statuses": Partner.Status.values, "status_labels": [str(label) for label in Partner.Status.labels],
        })
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE bench_program_rule")
    return inserted


def check_eligibility_snapshots(sample: int = 200) -> str:
    """Compare generated snapshots with what eligibility.evaluate() computes for the same rows."""
    from partnerships import eligibility
    from partnerships.models import Enrolment, PartnerStatistics

    bounds = Enrolment.objects.order_by("pk").values_list("pk", flat=True)
    first, last = bounds.first(), bounds.last()
    ids = random.Random(1).sample(range(first, last + 1), min(sample, last - first + 1))
    same = total = 0
    for enrolment in Enrolment.objects.filter(pk__in=ids).select_related("partner", "program"):
        stats = PartnerStatistics.objects.filter(partner_id=enrolment.partner_id).first()
        expected = [r.as_dict() for r in eligibility.evaluate(partner=enrolment.partner, statistics=stats,
                                                               program=enrolment.program)]
        total += 1
        same += expected == enrolment.eligibility
        if expected != enrolment.eligibility and total - same == 1:
            log(f"  snapshot differs for enrolment {enrolment.pk}: {enrolment.eligibility} != {expected}")
    log(f"  eligibility snapshots equal to eligibility.evaluate(): {same}/{total}")
    return f"{same}/{total}"


def table_sizes() -> list[dict]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'partnerships\\_%'
              AND pg_total_relation_size(c.oid) > 1024 * 1024
            ORDER BY 3 DESC
        """)
        return [{"table": name, "rows": rows, "bytes": size} for name, rows, size in cursor.fetchall()]


# =====================================================================================================
# Worker: measure the admin pages of one database
# =====================================================================================================

@dataclass(frozen=True)
class Page:
    key: str
    title: str
    url: str
    required: bool  # the targets apply to it; the others are shown for diagnosis
    must_contain: str = ""
    cold_country_cache: bool = False


def bench_pages() -> tuple[list[Page], dict]:
    """The pages, with a handle, a handle fragment and filter values taken from the loaded data."""
    from partnerships.models import Category, Partner, Program

    bounds = Partner.objects.order_by("pk").values_list("pk", flat=True)
    middle = (bounds.first() + bounds.last()) // 2
    handle = Partner.objects.filter(pk__gte=middle).order_by("pk").values_list("handle", flat=True).first()
    fragment = handle.split(".", 1)[1]  # "sings5000": one partner, the way a manager types part of a handle
    category = Category.objects.get(slug="gaming").pk
    program = Program.objects.get(slug="us-creator-fund").pk
    partners, queue, metrics = ("/admin/partnerships/partner/", "/admin/partnerships/enrolment/",
                                "/admin/partnerships/dailymetric/")
    pages = [
        Page("partner_list", "Partner list", partners, True),
        Page("partner_search", f"Partner search `q={fragment}`", f"{partners}?{urlencode({'q': fragment})}", True,
             must_contain=handle),
        Page("queue_submitted", "Application queue, submitted", f"{queue}?status__exact=submitted", True),
        Page("queue_all", "Application queue, unfiltered", queue, True),
        Page("metrics_list", "Metrics list", metrics, True),
        Page("metrics_by_handle", "Metrics `q=<exact handle>`", f"{metrics}?{urlencode({'q': handle})}", False,
             must_contain=handle),
        Page("queue_by_handle", "Queue `q=<exact handle>`", f"{queue}?{urlencode({'q': handle})}", False),
        Page("queue_submitted_program", "Queue, submitted + one program",
             f"{queue}?status__exact=submitted&program__id__exact={program}", False),
        Page("partner_search_broad", "Partner search `q=maya` (many matches)", f"{partners}?q=maya", False),
        Page("partner_by_category", "Partner list, one category", f"{partners}?category={category}", False),
        Page("partner_by_followers", "Partner list, 1M+ followers", f"{partners}?followers=gte1m", False),
        Page("partner_list_cold", "Partner list, country cache cold", partners, False, cold_country_cache=True),
    ]
    return pages, {"handle": handle, "fragment": fragment}


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def unfiltered_counts(sqls: list[str]) -> list[str]:
    """COUNT queries over a big table without any WHERE: what the paginator must never run on one."""
    found = []
    for sql in sqls:
        if "COUNT(" not in sql.upper() or " WHERE " in sql.upper():
            continue
        if any(re.search(rf'FROM "{table}"(\s|$)', sql) for table in BIG_TABLES):
            found.append(sql)
    return found


def timer(times: list[float]):
    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            times.append((time.perf_counter() - started) * 1000)

    return wrapper


def explain(sql: str, alias: str) -> str:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


class ActiveDatabase:
    """A database router that sends every query to one alias: the benchmark switches it between requests."""

    alias = "default"

    def db_for_read(self, model, **hints):
        return self.alias

    def db_for_write(self, model, **hints):
        return self.alias


def configure_databases(names: dict[str, str]) -> ActiveDatabase:
    """Before django.setup(): one alias per database (DATABASE_URL's settings with another name), and the router.

    One process holds a persistent connection to each database, so the small and the large twin of a page
    can be requested alternately: load from anything else on the machine then hits both alike."""
    from django.conf import settings

    for label, name in names.items():
        settings.DATABASES[label] = {**settings.DATABASES["default"], "NAME": name}
    router = ActiveDatabase()
    settings.DATABASE_ROUTERS = [router]
    return router


def measure_databases(router: ActiveDatabase, labels: list[str], runs: int, warmup: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from partnerships.models import Partner

    def use(label: str) -> None:
        router.alias = label
        cache.key_prefix = label  # the admin caches the country list: one entry per database

    def request(client: Client, page: Page) -> float:
        if page.cold_country_cache:
            cache.delete("partnerships:partner-countries")
        started = time.perf_counter()
        response = client.get(page.url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{page.url} answered {response.status_code}")
        if page.must_contain and page.must_contain not in response.content.decode():
            raise RuntimeError(f"{page.url} does not show {page.must_contain}")
        return elapsed

    def captured_request(label: str, client: Client, page: Page) -> list[dict]:
        connection = connections[label]
        query_ms: list[float] = []  # Django logs query times in whole milliseconds; this is finer
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer(query_ms)):
            request(client, page)
        return [{"sql": q["sql"], "ms": ms} for q, ms in zip(captured.captured_queries, query_ms, strict=True)]

    results: dict = {}
    pages: dict[str, list[Page]] = {}
    for label in labels:
        use(label)
        with connections[label].cursor() as cursor:
            cursor.execute("CHECKPOINT")
            cursor.execute(f"SELECT count(*) FROM {Partner._meta.db_table}")  # for the report, outside any page
            partners = cursor.fetchone()[0]
        pages[label], context = bench_pages()
        results[label] = {"context": {**context, "partners": partners}, "pages": {}, "plans": {}}
    results["machine"] = {"load_before": os.getloadavg()}

    for user_label, username in {"superuser": BENCH_SUPERUSER, "manager": BENCH_MANAGER}.items():
        clients = {}
        for label in labels:
            use(label)
            clients[label] = Client()
            clients[label].force_login(get_user_model().objects.get(username=username))
        for index in range(len(pages[labels[0]])):
            timings: dict[str, list[float]] = {label: [] for label in labels}
            for run in range(warmup + runs):
                for label in labels if run % 2 == 0 else labels[::-1]:  # alternate who goes first
                    use(label)
                    elapsed = request(clients[label], pages[label][index])
                    if run >= warmup:
                        timings[label].append(elapsed)
            for label in labels:
                use(label)
                page = pages[label][index]
                queries = captured_request(label, clients[label], page)
                results[label]["pages"].setdefault(page.key, {"title": page.title, "url": page.url,
                                                              "required": page.required})[user_label] = {
                    "median": statistics.median(timings[label]), "p95": nearest_rank(timings[label], 95),
                    "queries": len(queries), "sql_ms": sum(q["ms"] for q in queries),
                    "unfiltered_counts": unfiltered_counts([q["sql"] for q in queries]),
                    "slowest": max(queries, key=lambda q: q["ms"]) if queries else None,
                    "all_sql": [f"{q['ms']:8.2f} ms  {q['sql']}" for q in queries],
                }
                if user_label == "superuser":
                    results[label]["plans"][page.key] = page_plans(page, queries, label)
            log(f"  {user_label:9} {pages[labels[0]][index].key:24} " + ", ".join(
                f"{label} {statistics.median(timings[label]):8.1f} ms" for label in labels))
    results["machine"]["load_after"] = os.getloadavg()
    return results


def page_plans(page: Page, queries: list[dict], alias: str) -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of the page's slowest query, and for the search of its result query."""
    selects = [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    chosen = []
    if page.key.startswith("partner_search"):
        chosen += [q for q in selects if " LIKE " in q["sql"] and " LIMIT " in q["sql"]]
    if selects:
        slowest = max(selects, key=lambda q: q["ms"])
        if slowest not in chosen:
            chosen.append(slowest)
    return [{"sql": q["sql"], "ms": q["ms"], "plan": explain(q["sql"], alias)} for q in chosen]


# =====================================================================================================
# Report
# =====================================================================================================

def verdict(page: dict, small: dict, large: dict, plan_text: str) -> tuple[bool, list[str]]:
    problems = []
    ratio = large["median"] / small["median"]
    if ratio > TARGET_RATIO:
        problems.append(f"{ratio:.1f}× slower")
    if large["queries"] > TARGET_QUERIES:
        problems.append(f"{large['queries']} queries")
    if large["unfiltered_counts"]:
        problems.append("unfiltered COUNT")
    if page.get("key", "").startswith("partner_search") and not any(i in plan_text for i in TRIGRAM_INDEXES):
        problems.append("no trigram index in plan")
    return not problems, problems


def code_version() -> str:
    """The commit measured, and whether the working tree of the application differed from it."""
    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--", "partnerships", "config", "templates")
    return git("rev-parse", "--short", "HEAD") + (" with uncommitted changes to the application" if changed else "")


def fmt_load(load: list[float]) -> str:
    return " ".join(f"{value:.1f}" for value in load)


def render_report(args: argparse.Namespace, loads: dict, measured: dict) -> str:
    small, large = measured["small"], measured["large"]
    lines = [
        "# Admin benchmark: large-table pages",
        "",
        f"Run {dt.datetime.now():%Y-%m-%d %H:%M} on commit {measured['code']}: "
        f"small = {small['context']['partners']:,} partners "
        f"({args.small_db}), large = {large['context']['partners']:,} partners ({args.large_db}), "
        f"{args.days} daily metric rows per partner. {args.runs} timed requests per page after {args.warmup} "
        "warm-up ones, django.test.Client in process (time includes the template rendering), the small and "
        "the large twin of each page requested alternately from one process. p95 is nearest-rank. Queries "
        "include the session and user look-ups. Machine load average (1/5/15 min) before / after measuring: "
        f"{fmt_load(measured['machine']['load_before'])} / {fmt_load(measured['machine']['load_after'])} on "
        f"{os.cpu_count()} CPUs.",
        "",
        f"Targets: large median ≤ {TARGET_RATIO}× small median, ≤ {TARGET_QUERIES} queries, no COUNT(*) without "
        "WHERE over a big table, the search served by a trigram index. Pages marked (extra) are shown for "
        "diagnosis; the targets were set for the others.",
        "",
        "| page | user | small median / p95 ms | large median / p95 ms | ratio | queries small / large "
        "| unfiltered COUNT? | target met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    details = []
    for key, page in large["pages"].items():
        small_page = small["pages"][key]
        plans = "\n".join(p["plan"] for p in large["plans"].get(key, []))
        for user in ("superuser", "manager"):
            s, g = small_page[user], page[user]
            met, problems = verdict({**page, "key": key}, s, g, plans)
            title = page["title"] if page["required"] else f"{page['title']} (extra)"
            lines.append(
                f"| {title} | {user} | {s['median']:.1f} / {s['p95']:.1f} | {g['median']:.1f} / {g['p95']:.1f} "
                f"| {g['median'] / s['median']:.2f} | {s['queries']} / {g['queries']} "
                f"| {'yes' if g['unfiltered_counts'] else 'no'} | {'yes' if met else 'NO: ' + ', '.join(problems)} |"
            )
        slowest = page["superuser"]["slowest"]
        if slowest:
            details.append(f"| {page['title']} | {page['superuser']['sql_ms']:.1f} | {slowest['ms']:.1f} "
                           f"| `{slowest['sql'][:110].replace('|', '/')}…` |")
    lines += [
        "",
        f"Search: `q={large['context']['fragment']}` (large), `q={small['context']['fragment']}` (small); "
        f"metrics and queue by handle: `{large['context']['handle']}` / `{small['context']['handle']}`.",
        "",
        "## SQL time on the large database (superuser)",
        "",
        "| page | all queries ms | slowest ms | slowest query |",
        "|---|---|---|---|",
        *details,
        "",
        "## Load",
        "",
        "| step | small s | large s | large rows |",
        "|---|---|---|---|",
    ]
    small_steps = {step["step"]: step for step in loads["small"]["steps"]}
    for step in loads["large"]["steps"]:
        other = small_steps.get(step["step"], {}).get("seconds")
        rows = f"{step['rows']:,}" if step["rows"] is not None else ""
        lines.append(f"| {step['step']} | {other:,.1f} | {step['seconds']:,.1f} | {rows} |" if other is not None
                     else f"| {step['step']} | | {step['seconds']:,.1f} | {rows} |")
    for label in ("small", "large"):
        reused = loads[label].get("reused_from")
        lines.append(f"\n{label}: {'reused, loaded at ' + reused if reused else 'loaded in this run'}; "
                     f"eligibility snapshots equal to eligibility.evaluate(): {loads[label]['snapshot_check']}.")
    lines += ["", "Large database tables:", "", "| table | rows (estimate) | size |", "|---|---|---|"]
    lines += [f"| {t['table']} | {t['rows']:,} | {t['bytes'] / 2**20:,.0f} MB |" for t in loads["large"]["sizes"]]
    lines += ["", "## Query plans (large database, superuser)", ""]
    for key, plans in large["plans"].items():
        for plan in plans:
            lines += [f"### {large['pages'][key]['title']} ({plan['ms']:.1f} ms in the page)", "", "```sql",
                      plan["sql"], "```", "", "```", plan["plan"], "```", ""]
    lines += ["## Every query of each page (large database, superuser)", ""]
    for page in large["pages"].values():
        lines += [f"### {page['title']}", "", "```", *page["superuser"]["all_sql"], "```", ""]
    return "\n".join(lines) + "\n"


# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=1_000_000, help="partners in the large database")
    parser.add_argument("--small-partners", type=int, default=10_000, help="partners in the small database")
    parser.add_argument("--days", type=int, default=30, help="daily metric rows per partner")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page and user")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests before them")
    parser.add_argument("--reuse", action="store_true", help="keep databases already loaded with the same sizes")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL, no database")
    parser.add_argument("--large-db", default="cp_bench_large")
    parser.add_argument("--small-db", default="cp_bench_small")
    parser.add_argument("--worker", choices=["load", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--databases", help=argparse.SUPPRESS)  # label=name,label=name for the measure worker
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.worker:
        return run_benchmark(args)
    import django

    if args.worker == "load":
        django.setup()
        result = load_database(args.partners, args.days)
    else:
        names = dict(item.split("=", 1) for item in args.databases.split(","))
        router = configure_databases(names)
        django.setup()
        result = measure_databases(router, list(names), args.runs, args.warmup)
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
