"""Creator search benchmark: GET /api/v1/creators/ on 1,000,000 partners, beside the same pages in hand-written
SQL and beside a plain DRF ModelViewSet (django-filter, page-number pagination), in the same run.

Run by hand from the project root, against a local PostgreSQL (not part of the tests, never run in CI):

    .venv/bin/python bench/search.py                   # (re)create the database, load it, measure
    .venv/bin/python bench/search.py --reuse           # keep a database already loaded with the same size
    .venv/bin/python bench/search.py --reuse --try-fixes   # also time the mix with the candidate indexes

Loading 1,000,000 partners takes about four minutes; the timings 15-40 minutes, depending on how busy the
machine is (the plain baseline takes most of it). Run it under nohup and follow the log:

    nohup .venv/bin/python bench/search.py --reuse --try-fixes > bench/results/search-run.log 2>&1 &

Other options: --server (default postgres://postgres@127.0.0.1:5432), --db (default cp_bench_search),
--partners, --runs (timed requests per query and path, default 50), --warmup (default 5), --max-wait (seconds
to wait for a quiet machine before each block, default 600), --retries (default 3), --no-http.

What it does:

1. drops and recreates the database (unless --reuse finds it loaded with the same size), runs
   `manage.py migrate`, and loads with set-based SQL (INSERT ... SELECT over generate_series, never the ORM):
   partners of every kind in 20 countries (about 40 % opted into brand deals, 97 % active, people mostly
   adults, some minors, some without a birth date; organisations without one), their PartnerStatistics rows
   (followers log-distributed 100..10,000,000, posts, average views, engagement rate 0.50..15.00), 15
   categories with 1-3 per partner; a brand, its admin user and membership (ORM). The trigram indexes of
   migration 0002 are dropped for the load and rebuilt after it, with the same definitions. VACUUM ANALYZE.
2. in this process (Django set up on that database, DEBUG off, the project's middleware), for each query of MIX:
   - the API: DRF's APIClient (secure=True, as behind the TLS proxy) with an `Authorization: Token` header (a
     token made by marketplace.services.api_token_create), through the whole middleware, URL, authentication,
     permission, throttle (rate raised so 429s never happen), filter, cursor pagination and JSON rendering;
   - raw SQL: one hand-written statement returning the same page (same columns, categories by array_agg,
     LIMIT 51 like the cursor paginator; category slugs resolved to ids once), psycopg 3 directly with
     client-side binding like Django (no server-side prepared statements);
   - the plain baseline: a ModelViewSet defined here (never in the project): ModelSerializer with
     source="statistics.followers" etc. and a SlugRelatedField for categories, no select_related or
     prefetch_related, a django-filter FilterSet with the same filters (icontains, country in, category,
     ranges, OrderingFilter) and PageNumberPagination (page size 50, so a COUNT on every request), over the
     same marketplace rules;
   one untimed request of each with CaptureQueriesContext (queries, COUNTs, the API's SQL), pages compared
   (API against raw SQL, every field, row for row), --warmup untimed requests each, then --runs timed rounds
   of one API and one raw SQL request, in rotating order, then --runs plain requests (timed_rounds: garbage
   collected, untimed, before each timed request); wall time and this process's CPU time.
   Before each block it waits until no other backend (any database) has had an active query for 2 s and the
   CPUs are at most half busy; while it runs, it measures the CPU used by other processes (not this one, its
   children, or this database's backends) and redoes the block, up to --retries times, if they used more
   than 0.2 cores (another benchmark or test run started meanwhile); the least disturbed attempt is kept and
   the report says how disturbed it was.
3. EXPLAIN (ANALYZE, BUFFERS) of the API's main statement for the three slowest queries; where an API
   request's time goes, step by step (PhaseProfiler: CPU and wall per framework step), for the default query
   and the one with the largest overhead; the API over HTTP (--http, default on: gunicorn with the project's
   config/gunicorn.py but one sync worker, else runserver; a new connection per request,
   X-Forwarded-Proto: https); optionally (--try-fixes) the mix again, API and raw SQL, after creating
   fix_indexes() in the bench database only (they are dropped afterwards).

It prints the table and writes it, with details and plans, to bench/results/search.md (git-ignored). Targets,
per query: API p95 - raw SQL p95 <= 15 ms; API faster than the plain baseline (p50 and p95); no COUNT; and
the API's page equal to the raw SQL's.

The database is kept for --reuse; drop it with psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE cp_bench_search'
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/search.py`, Python puts bench/ first on the path; the project root is what we need.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness, search_measure  # noqa: E402
from bench.data import marketplace  # noqa: E402
from bench.search_measure import API_PATH, PAGE_SIZE, PLAIN_PATH  # noqa: E402
from bench.search_report import render_report  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "search.md"
LOAD_VERSION = 1  # bump when the generated data changes, so --reuse reloads
Q_FRAGMENT = "wojc"  # part of the last name Wojcik: about 1 partner in 80
PAGE2 = "page 2"  # marker: the next page of the default query

MIX: list[tuple[str, dict | str]] = [
    ("default (-followers)", {}),
    ("country=US", {"country": ["US"]}),
    ("country=US&country=GB&category=comedy", {"country": ["US", "GB"], "category": ["comedy"]}),
    ("followers 100k..500k", {"followers_min": "100000", "followers_max": "500000"}),
    ("engagement_rate_min=8", {"engagement_rate_min": "8"}),
    ("avg_views_min=50000&ordering=-avg_views", {"avg_views_min": "50000", "ordering": "-avg_views"}),
    (f"q={Q_FRAGMENT}", {"q": Q_FRAGMENT}),
    ("kind=publisher&ordering=engagement_rate", {"kind": "publisher", "ordering": "engagement_rate"}),
    ("default, page 2 (next cursor)", PAGE2),
    ("deep: 3 countries, 2 categories, kind, ranges, -engagement_rate",
     {"country": ["US", "GB", "CA"], "category": ["gaming", "tech"], "kind": "creator", "followers_min": "50000",
      "followers_max": "5000000", "engagement_rate_min": "4", "avg_views_min": "5000",
      "ordering": "-engagement_rate"}),
]

# Candidate fixes (--try-fixes; bench database only, dropped after). Statistics index followers only (migration
# 0026 dropped the indexes of avg_views_per_post and engagement_rate that 0007 made: brand search reads the search
# table). What is left slow walks a statistics index in the page's order and
# looks up each partner: these covering, partial indexes hold only partners past the marketplace thresholds
# (the settings' values, as the ORM inlines them) and the columns the query reads, so the statistics side
# becomes an index-only scan of eligible rows. Their predicate must match the settings.
def fix_indexes() -> dict[str, str]:
    from django.conf import settings

    eligible = (f"followers >= {int(settings.MARKETPLACE_MIN_FOLLOWERS)} AND views_30d >= "
                f"{int(settings.MARKETPLACE_MIN_VIEWS_30D)} AND posts_30d >= {int(settings.MARKETPLACE_MIN_POSTS_30D)}")
    table = "partnerships_partnerstatistics"
    return {
        "bench_stats_followers_eligible_idx":
            f"CREATE INDEX bench_stats_followers_eligible_idx ON {table} (followers, partner_id) "
            f"INCLUDE (avg_views_per_post, engagement_rate, posts_30d) WHERE {eligible}",
        "bench_stats_engagement_eligible_idx":
            f"CREATE INDEX bench_stats_engagement_eligible_idx ON {table} (engagement_rate, partner_id) "
            f"INCLUDE (followers, avg_views_per_post, posts_30d) WHERE {eligible}",
        "bench_stats_avg_views_eligible_idx":
            f"CREATE INDEX bench_stats_avg_views_eligible_idx ON {table} (avg_views_per_post, partner_id) "
            f"INCLUDE (followers, engagement_rate, posts_30d) WHERE {eligible}",
    }


# =====================================================================================================
# Database: create, migrate, load
# =====================================================================================================

def configure_environment(args: argparse.Namespace) -> None:
    """The process (and its `manage.py` children) point at the bench database; set before django.setup()."""
    env = harness.django_environment(
        f"{args.server}/{args.db}", "bench-search-not-a-secret",
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
        # The default budgets would answer most timed requests with 429: the throttle still runs, never trips.
        BRAND_RATE="100000000/minute",
        BRAND_WRITE_RATE="100000000/minute",
        # The HTTP measurement sends X-Forwarded-Proto: https, as the TLS-terminating proxy would.
        TRUST_X_FORWARDED_PROTO="true",
        CELERY_BROKER_URL=None,
        CACHE_URL=None,  # the throttle's cache: local memory, as in the embedded mode
    )
    os.environ.clear()
    os.environ.update(env)


def prepare_database(args: argparse.Namespace) -> dict:
    """Returns the load's steps; the database is ready and Django set up on it."""
    import django

    return harness.prepare_database(
        server=args.server, name=args.db, spec={"partners": args.partners, "version": LOAD_VERSION}, reuse=args.reuse,
        migrate=lambda: harness.run_manage(dict(os.environ), "migrate", "--noinput", "-v", "0"), ready=django.setup,
        load=lambda: marketplace.load_marketplace_database(args.partners))


# =====================================================================================================
# Raw SQL: the same page, hand-written
# =====================================================================================================

CATEGORY_IDS: dict[str, int] = {}  # slug -> id, read once by measure()
RAW_ORDER = {"followers": "s.followers", "avg_views": "s.avg_views_per_post", "engagement_rate": "s.engagement_rate"}
OUTER_ORDER = {"followers": "followers", "avg_views": "avg_views", "engagement_rate": "engagement_rate"}


def raw_where(params: dict, after: tuple | None = None) -> tuple[str, dict]:
    """The marketplace rule and the query's filters, as marketplace.search.creator_page applies them; the rule's SQL
    is the project's own (marketplace.rules.marketplace_sql), with its placeholders named for this statement."""
    from partnerships.marketplace.rules import marketplace_sql

    rule, rule_params = marketplace_sql()
    where = [rule % tuple(f"%(rule_{index})s" for index in range(len(rule_params)))]
    values = {f"rule_{index}": value for index, value in enumerate(rule_params)}
    if params.get("q"):
        # The expression the trigram indexes are built on (migration 0002).
        where.append("(UPPER(p.handle::text) LIKE UPPER(%(q)s) OR UPPER(p.display_name::text) LIKE UPPER(%(q)s))")
        escaped = params["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        values["q"] = f"%{escaped}%"
    if params.get("country"):
        where.append("p.country = ANY(%(countries)s)")
        values["countries"] = list(params["country"])
    if params.get("category"):
        # Slugs resolved to ids once (reference data a hand-written service keeps in memory); the API's FilterSet
        # looks them up on every request.
        where.append("EXISTS (SELECT 1 FROM partnerships_partner_categories pc "
                     "WHERE pc.partner_id = p.id AND pc.category_id = ANY(%(category_ids)s))")
        values["category_ids"] = [CATEGORY_IDS[slug] for slug in params["category"]]
    if params.get("kind"):
        where.append("p.kind = %(kind)s")
        values["kind"] = params["kind"]
    for key, column, operator in (("followers_min", "s.followers", ">="), ("followers_max", "s.followers", "<="),
                                  ("avg_views_min", "s.avg_views_per_post", ">=")):
        if params.get(key) is not None:
            where.append(f"{column} {operator} %({key})s")
            values[key] = int(params[key])
    if params.get("engagement_rate_min") is not None:
        where.append("s.engagement_rate >= %(engagement_rate_min)s")
        values["engagement_rate_min"] = Decimal(params["engagement_rate_min"])
    if after is not None:  # keyset: rows after (followers, id) of the previous page's last row
        where.append("s.followers <= %(after_value)s AND (s.followers < %(after_value)s OR p.id < %(after_id)s)")
        values["after_value"], values["after_id"] = after
    return " AND ".join(where), values


def raw_query(params: dict, after: tuple | None = None) -> tuple[str, dict]:
    """One statement: the page (LIMIT 51, as the cursor paginator asks) and each row's categories by name."""
    where, values = raw_where(params, after)
    values["limit"] = PAGE_SIZE + 1
    ordering = params.get("ordering") or "-followers"
    name = ordering.lstrip("-")
    direction = "DESC" if ordering.startswith("-") else "ASC"
    # As the API (marketplace.search.creator_page): with a text search the key is written so no index provides
    # the order, and PostgreSQL finds the matches through the trigram indexes first.
    key = f"({RAW_ORDER[name]} + 0)" if len(params.get("q") or "") >= 3 else RAW_ORDER[name]
    sql = f"""
        SELECT page.id, page.handle, page.display_name, page.kind, page.country, page.followers, page.avg_views,
               page.engagement_rate, page.posts_30d, COALESCE(cats.slugs, '{{}}') AS categories
        FROM (
            SELECT p.id, p.handle, p.display_name, p.kind, p.country, s.followers,
                   s.avg_views_per_post AS avg_views, s.engagement_rate, s.posts_30d
            FROM partnerships_partner p JOIN partnerships_partnerstatistics s ON s.partner_id = p.id
            WHERE {where}
            ORDER BY {key} {direction}, p.id DESC
            LIMIT %(limit)s
        ) AS page
        LEFT JOIN LATERAL (
            SELECT array_agg(c.slug ORDER BY c.slug) AS slugs
            FROM partnerships_partner_categories pc JOIN partnerships_category c ON c.id = pc.category_id
            WHERE pc.partner_id = page.id
        ) AS cats ON true
        ORDER BY page.{OUTER_ORDER[name]} {direction}, page.id DESC"""
    return sql, values


def matching_rows(raw, params: dict) -> int:
    """How many marketplace partners match (untimed, for the report)."""
    where, values = raw_where(params)
    sql = ("SELECT COUNT(*) FROM partnerships_partner p JOIN partnerships_partnerstatistics s "
           f"ON s.partner_id = p.id WHERE {where}")
    return raw.execute(sql, values).fetchone()[0]


# =====================================================================================================
# Measuring
# =====================================================================================================

def measure(args: argparse.Namespace) -> dict:
    from partnerships.models import Category

    CATEGORY_IDS.update(Category.objects.values_list("slug", "pk"))
    return search_measure.measure(args, build_requests, matching_rows, fix_indexes)


def build_requests(paths: search_measure.Paths) -> dict[str, dict]:
    """Per query: the API's (path, params), the plain baseline's, the raw SQL and its parameters."""
    requests = {}
    for label, params in MIX:
        if params == PAGE2:
            first = paths.api((API_PATH, {})).json()
            next_url = first["next"]
            raw_first = paths.sql(raw_query({}))
            last = raw_first[PAGE_SIZE - 1]
            requests[label] = {"params": {"cursor": "(next of the default query)"}, "api": (next_url, None),
                               "plain": (PLAIN_PATH, {"page": 2}), "sql": raw_query({}, after=(last[5], last[0])),
                               "after": (last[5], last[0])}
        else:
            requests[label] = {"params": params, "api": (API_PATH, params), "plain": (PLAIN_PATH, params),
                               "sql": raw_query(params), "after": None}
    return requests


# =====================================================================================================
# Entry point
# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed requests per query and path")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per query and path first")
    parser.add_argument("--reuse", action="store_true", help="keep a database already loaded with the same size")
    parser.add_argument("--db", default="cp_bench_search")
    parser.add_argument("--max-wait", type=float, default=600, help="seconds to wait for a quiet machine")
    parser.add_argument("--retries", type=int, default=3,
                        help="times a query's timings are redone when other processes were busy meanwhile")
    parser.add_argument("--http", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the API over HTTP (gunicorn, or runserver)")
    parser.add_argument("--try-fixes", action="store_true", help="time the mix again with fix_indexes()")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_environment(args)
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic here
    load = prepare_database(args)
    measured = measure(args)
    path = REPORT_PATH if args.db == "cp_bench_search" else REPORT_PATH.with_name(f"search-{args.db}.md")
    harness.write_report(path, render_report(args, load, measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
