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
   services.partner_statistics_refresh() (timed) and VACUUM ANALYZE. History tables are not filled;
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
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/admin.py`, Python puts bench/ first on the path; the project root is what we need.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench.admin_report import render_report  # noqa: E402
from bench.data import demo  # noqa: E402
from bench.data.demo import BENCH_MANAGER, BENCH_SUPERUSER  # noqa: E402
from bench.harness import log  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "admin.md"
STATIC_ROOT = Path(tempfile.gettempdir()) / "cp-bench-admin-static"  # collectstatic output for the workers
LOAD_VERSION = 1  # bump when the generated data changes, so --reuse reloads
BIG_TABLES = (
    "partnerships_partner", "partnerships_partner_categories", "partnerships_partnerstatistics",
    "partnerships_dailymetric", "partnerships_enrolment",
)


# =====================================================================================================
# Orchestration (this process never imports Django: each database gets its own worker process)
# =====================================================================================================

def run_benchmark(args: argparse.Namespace) -> int:
    databases = {"small": (args.small_db, args.small_partners), "large": (args.large_db, args.partners)}
    loads = {label: prepare_database(args, name, partners) for label, (name, partners) in databases.items()}
    log("measuring: each page on the small and the large database, alternately")
    names = ",".join(f"{label}={name}" for label, (name, _) in databases.items())
    version = code_version()  # the worker imports the code as it is now
    environment = worker_environment(args, args.small_db)
    # Production settings serve static files from a manifest that collectstatic writes: without it every page 500s.
    harness.run_manage(environment, "collectstatic", "--noinput", "--verbosity", "0")
    measured = harness.run_worker(__file__, environment, "measure", "--databases", names,
                                  "--runs", str(args.runs), "--warmup", str(args.warmup))
    measured["code"] = version if code_version() == version else f"{version} (changed to {code_version()} since)"
    harness.write_report(REPORT_PATH, render_report(args, loads, measured))
    return 0


def code_version() -> str:
    """The commit measured, and whether the working tree of the application differed from it."""
    changed = harness.git("status", "--porcelain", "--", "partnerships", "config", "templates").strip()
    head = harness.git("rev-parse", "--short", "HEAD").strip()
    return head + (" with uncommitted changes to the application" if changed else "")


def prepare_database(args: argparse.Namespace, name: str, partners: int) -> dict:
    spec = {"partners": partners, "days": args.days, "version": LOAD_VERSION}
    return harness.prepare_worker_database(__file__, args, name, worker_environment(args, name), spec,
                                           "--partners", str(partners), "--days", str(args.days))


def worker_environment(args: argparse.Namespace, dbname: str) -> dict:
    return harness.django_environment(f"{args.server}/{dbname}", "bench-admin-not-a-secret",
                                      ALLOWED_HOSTS="testserver,localhost,127.0.0.1",
                                      STATIC_ROOT=str(STATIC_ROOT))


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
        response = client.get(page.url, secure=True)  # as behind the TLS proxy: no redirect to https
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
                    "median": statistics.median(timings[label]), "p95": harness.nearest_rank(timings[label], 95),
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
    from django.db import connections

    selects = [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    chosen = []
    if page.key.startswith("partner_search"):
        chosen += [q for q in selects if " LIKE " in q["sql"] and " LIMIT " in q["sql"]]
    if selects:
        slowest = max(selects, key=lambda q: q["ms"])
        if slowest not in chosen:
            chosen.append(slowest)
    return [{"sql": q["sql"], "ms": q["ms"], "plan": harness.explain(connections[alias], q["sql"])} for q in chosen]


# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=1_000_000, help="partners in the large database")
    parser.add_argument("--small-partners", type=int, default=10_000, help="partners in the small database")
    parser.add_argument("--days", type=int, default=30, help="daily metric rows per partner")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page and user")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests before them")
    parser.add_argument("--reuse", action="store_true", help="keep databases already loaded with the same sizes")
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
        result = demo.load_demo_database(args.partners, args.days)
    else:
        names = dict(item.split("=", 1) for item in args.databases.split(","))
        router = configure_databases(names)
        django.setup()
        result = measure_databases(router, list(names), args.runs, args.warmup)
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
