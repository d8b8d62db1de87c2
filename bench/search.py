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
     token made by brand_services.api_token_create), through the whole middleware, URL, authentication,
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
import datetime as dt
import gc
import importlib
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import types
import warnings
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
REPORT_PATH = RESULTS_DIR / "search.md"

# Run as `python bench/search.py`, Python puts bench/ first on the path; the project root is what we need.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

LOAD_VERSION = 1  # bump when the generated data changes, so --reuse reloads
PARTNER_CHUNK = 250_000
TARGET_OVERHEAD_MS = 15.0
PAGE_SIZE = 50
API_PATH = "/api/v1/creators/"
PLAIN_PATH = "/bench/plain/creators/"
# Before timing: 3 samples of 2 s in a row without a long query elsewhere and with the CPUs at most half busy.
QUIET_QUERY_SECONDS, QUIET_CPU_BUSY, QUIET_SAMPLES = 2, 0.50, 3
LOAD_SESSION = ["SET synchronous_commit = off", "SET maintenance_work_mem = '1GB'", "SET work_mem = '256MB'",
                "SET session_replication_role = replica"]  # skips FK triggers: rows reference rows that exist

FIRST_NAMES = [
    "Ada", "Aiko", "Alba", "Amara", "Anders", "Aria", "Bela", "Bruno", "Carmen", "Chidi", "Dario", "Dina", "Elif",
    "Emil", "Esme", "Farah", "Felix", "Gael", "Greta", "Hana", "Ines", "Ivo", "Jonas", "Juno", "Kai", "Kenji",
    "Lara", "Leon", "Lina", "Luca", "Maya", "Milo", "Nadia", "Nico", "Noor", "Olga", "Omar", "Paz", "Priya",
    "Quinn", "Rafa", "Rosa", "Sami", "Sofia", "Tariq", "Teo", "Uma", "Vera", "Wren", "Yara", "Yusuf", "Zoe",
    "Arjun", "Bianca", "Cyrus", "Dalia", "Ezra", "Freya", "Hugo", "Iris",
]
LAST_NAMES = [
    "Abara", "Alvarez", "Andersen", "Bauer", "Becker", "Bianchi", "Costa", "Dubois", "Eriksen", "Ferreira",
    "Fischer", "Garcia", "Greco", "Haddad", "Hansen", "Ito", "Jansen", "Kaur", "Kim", "Kowalski", "Lambert",
    "Larsen", "Lopez", "Martin", "Meyer", "Moreau", "Nakamura", "Novak", "Okafor", "Olsen", "Park", "Patel",
    "Petrov", "Quispe", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Sato", "Tanaka", "Torres", "Varga",
    "Weber", "Wojcik", "Yilmaz", "Zhang", "Adeyemi", "Berg", "Castro", "Dimitrov", "Engel", "Fontaine", "Gomez",
    "Horvat", "Ibrahim", "Jovanovic", "Keller", "Lindqvist", "Mendes", "Nielsen", "Ortega", "Popescu", "Reyes",
    "Suzuki", "Thorsen", "Ueda", "Vidal", "Walsh", "Xu", "Yamada", "Zielinski", "Brandt", "Chavez", "Duarte",
    "Eze", "Fuchs", "Gallo", "Holm", "Iyer",
]
PUBLISHER_SUFFIXES = ["Media", "Studios", "News", "Press", "Network"]
INSTITUTION_PREFIXES = ["Museum", "Institute", "Library", "Foundation", "Academy"]
# 20 slots: US 25 %, GB, BR, IN 10 % each, the others 5 % each.
COUNTRY_SLOTS = ["US", "US", "US", "US", "US", "GB", "GB", "BR", "BR", "IN", "IN", "CA", "FR", "DE", "JP", "MX",
                 "ES", "IT", "AU", "NL"]
CATEGORIES = [  # most popular first: a partner's categories are drawn with a skew towards the start
    ("comedy", "Comedy"), ("gaming", "Gaming"), ("beauty", "Beauty"), ("music", "Music"), ("sports", "Sports"),
    ("food", "Food"), ("tech", "Tech"), ("fashion", "Fashion"), ("travel", "Travel"), ("fitness", "Fitness"),
    ("education", "Education"), ("finance", "Finance"), ("news", "News"), ("science", "Science"),
    ("parenting", "Parenting"),
]
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

# Candidate fixes (--try-fixes; bench database only, dropped after). Migration 0007 already indexes
# avg_views_per_post and engagement_rate. What is left slow walks a statistics index in the page's order and
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


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# =====================================================================================================
# Database: create, migrate, load
# =====================================================================================================

def admin_connection(server: str, dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(f"{server}/{dbname}", autocommit=True)


def configure_environment(args: argparse.Namespace) -> None:
    """The process (and its `manage.py` children) point at the bench database; set before django.setup()."""
    os.environ.update({
        "DATABASE_URL": f"{args.server}/{args.db}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "bench-search-not-a-secret",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        # 600/minute per brand would answer most timed requests with 429: the throttle still runs, never trips.
        "API_BRAND_RATE": "100000000/minute",
        # The HTTP measurement sends X-Forwarded-Proto: https, as the TLS-terminating proxy would.
        "TRUST_X_FORWARDED_PROTO": "true",
    })
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("CACHE_URL", None)  # the throttle's cache: local memory, as in the embedded mode


def run_manage(*command: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], cwd=ROOT, env=dict(os.environ),
                          check=True, **popen)


def read_meta(server: str, dbname: str) -> dict | None:
    import psycopg

    try:
        with admin_connection(server, dbname) as conn:
            row = conn.execute("SELECT spec, result, loaded_at FROM bench_meta WHERE id = 1").fetchone()
    except psycopg.Error:
        return None
    return {"spec": row[0], "result": row[1], "loaded_at": row[2].isoformat(timespec="minutes")} if row else None


def prepare_database(args: argparse.Namespace) -> dict:
    """Returns the load's steps; the database is ready and Django set up on it."""
    import django

    spec = {"partners": args.partners, "version": LOAD_VERSION}
    if args.reuse:
        meta = read_meta(args.server, args.db)
        if meta and meta["spec"] == spec:
            log(f"{args.db}: reusing the data loaded at {meta['loaded_at']}")
            run_manage("migrate", "--noinput", "-v", "0")
            django.setup()
            return {**meta["result"], "reused_from": meta["loaded_at"]}
        log(f"{args.db}: not loaded with {spec}, loading it")
    log(f"{args.db}: dropping and creating the database")
    with admin_connection(args.server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    started = time.perf_counter()
    run_manage("migrate", "--noinput", "-v", "0")
    migrate_seconds = time.perf_counter() - started
    django.setup()
    result = load_database(args.partners)
    result["steps"].insert(0, {"step": "migrate", "seconds": migrate_seconds, "rows": None})
    with admin_connection(args.server, args.db) as conn:
        conn.execute("CREATE TABLE bench_meta (id int PRIMARY KEY, spec jsonb, result jsonb, loaded_at timestamptz)")
        conn.execute("INSERT INTO bench_meta VALUES (1, %s, %s, now())", [json.dumps(spec), json.dumps(result)])
    return result


def load_database(partners: int) -> dict:
    from django.db import connection

    steps: list[dict] = []

    def step(label: str, function) -> None:
        log(f"  {label} ...")
        started = time.perf_counter()
        rows = function()
        seconds = time.perf_counter() - started
        steps.append({"step": label, "seconds": round(seconds, 1), "rows": rows})
        log(f"  {label}: {seconds:,.1f} s" + (f", {rows:,} rows" if rows is not None else ""))

    def session(*statements: str) -> None:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    trigram = importlib.import_module("partnerships.migrations.0002_search_indexes")

    session(*LOAD_SESSION)
    step("brand, admin user, membership, categories (ORM)", create_brand_and_categories)
    # The trigram (GIN) indexes are built once after the load rather than updated row by row.
    session(*(f"DROP INDEX IF EXISTS {name}" for name in trigram.INDEXES))
    step("partners", lambda: load_partners(partners))
    step("partner statistics", load_statistics)
    step("partner categories (1-3 each)", load_categories)
    step("trigram indexes (migration 0002's definitions)",
         lambda: session(*(f"CREATE INDEX {name} ON {definition}" for name, definition in trigram.INDEXES.items())))
    session("RESET ALL")
    step("VACUUM ANALYZE", lambda: session("VACUUM (ANALYZE)"))
    session("CHECKPOINT")
    return {"steps": steps}


def create_brand_and_categories() -> None:
    from django.contrib.auth import get_user_model

    from partnerships.models import Brand, BrandMembership, Category

    user = get_user_model().objects.create_user(username="bench-search", email="bench-search@example.com")
    brand = Brand.objects.create(name="Bench brand", slug="bench-brand")
    BrandMembership.objects.create(brand=brand, user=user, role=BrandMembership.Role.ADMIN)
    Category.objects.bulk_create([Category(slug=slug, name=name) for slug, name in CATEGORIES])


def load_partners(count: int) -> int:
    """Handles like ana.kowalski123 (first name, separator, last name, number: unique); names like Ana Kowalski,
    Kowalski Media (publishers), Museum Kowalski (institutions)."""
    from django.db import connection

    sql = """
        INSERT INTO partnerships_partner
            (kind, handle, display_name, country, date_of_birth, age_verified, status, status_reason,
             status_changed_at, tax_form_on_file, identity_verified, opted_into_brand_deals, created_at, updated_at)
        SELECT kind,
               lower(first_name) || (ARRAY['', '.', '_'])[1 + (n %% 3)::int] || lower(last_name) || n,
               CASE kind WHEN 'publisher' THEN last_name || ' ' || (%(suffixes)s::text[])[1 + (n %% 5)::int]
                         WHEN 'institution' THEN (%(prefixes)s::text[])[1 + (n %% 5)::int] || ' ' || last_name
                         ELSE first_name || ' ' || last_name END,
               country,
               CASE WHEN kind IN ('publisher', 'institution') OR r_age < 0.04 THEN NULL  -- not on file
                    WHEN r_age < 0.10 THEN current_date - (4750 + floor(r_days * 1800))::int  -- minors, 13-17
                    ELSE current_date - (6700 + floor(r_days * 16000))::int END,  -- adults, 18-62
               CASE WHEN kind IN ('publisher', 'institution') THEN false
                    WHEN r_age < 0.04 THEN r_verified < 0.5
                    WHEN r_age < 0.10 THEN false
                    ELSE r_verified < 0.3 END,
               status,
               CASE WHEN status = 'active' THEN '' ELSE 'Bench: community guidelines review' END,
               CASE WHEN status <> 'active' THEN created_at + interval '30 days' END,
               random() < 0.9, random() < 0.92, random() < 0.4, created_at, created_at
        FROM (
            SELECT n,
                   CASE WHEN r_kind < 0.60 THEN 'creator' WHEN r_kind < 0.70 THEN 'public_figure'
                        WHEN r_kind < 0.85 THEN 'publisher' WHEN r_kind < 0.95 THEN 'educator'
                        ELSE 'institution' END AS kind,
                   (%(first)s::text[])[1 + floor(random() * %(n_first)s)::int] AS first_name,
                   (%(last)s::text[])[1 + floor(random() * %(n_last)s)::int] AS last_name,
                   (%(countries)s::text[])[1 + floor(random() * %(n_countries)s)::int] AS country,
                   random() AS r_age, random() AS r_days, random() AS r_verified,
                   CASE WHEN r_status < 0.97 THEN 'active' WHEN r_status < 0.99 THEN 'suspended'
                        ELSE 'removed' END AS status,
                   TIMESTAMPTZ '2024-01-01 00:00+00' + random() * interval '900 days' AS created_at
            FROM (SELECT n, random() AS r_kind, random() AS r_status
                  FROM generate_series(%(low)s, %(high)s) AS n) AS draw
        ) AS partner
        ORDER BY n
    """
    params = {"suffixes": PUBLISHER_SUFFIXES, "prefixes": INSTITUTION_PREFIXES, "first": FIRST_NAMES,
              "n_first": len(FIRST_NAMES), "last": LAST_NAMES, "n_last": len(LAST_NAMES),
              "countries": COUNTRY_SLOTS, "n_countries": len(COUNTRY_SLOTS)}
    inserted = 0
    with connection.cursor() as cursor:
        for low in range(1, count + 1, PARTNER_CHUNK):
            cursor.execute(sql, {**params, "low": low, "high": min(count, low + PARTNER_CHUNK - 1)})
            inserted += cursor.rowcount
            log(f"    partners {inserted:,} / {count:,}")
    return inserted


def load_statistics() -> int:
    """Followers log-distributed 100..10,000,000 (skewed to small accounts), 0-60 posts in 30 days, average views
    a share of followers, engagement 0.50..15.00 % (skewed low)."""
    from django.db import connection

    sql = """
        INSERT INTO partnerships_partnerstatistics
            (partner_id, as_of, followers, views_30d, qualified_views_30d, likes_30d, comments_30d, shares_30d,
             posts_30d, avg_views_per_post, engagement_rate, refreshed_at)
        SELECT id, current_date - 1, followers, avg_views * posts, round(avg_views * posts * 0.9)::bigint,
               round(avg_views * posts * er / 100 * 0.80)::bigint, round(avg_views * posts * er / 100 * 0.15)::bigint,
               round(avg_views * posts * er / 100 * 0.05)::bigint, posts, avg_views, er,
               now() - random() * interval '20 hours'
        FROM (
            SELECT id, followers, posts, er,
                   CASE WHEN posts = 0 THEN 0
                        ELSE greatest(1, round(followers * (0.02 + 0.6 * r_reach ^ 2)))::bigint END AS avg_views
            FROM (
                SELECT id, round(100 * 10 ^ (5 * random() ^ 1.3))::bigint AS followers,
                       floor(60.99 * random() ^ 1.5)::int AS posts,
                       round((0.5 + 14.5 * random() ^ 2)::numeric, 2) AS er, random() AS r_reach
                FROM partnerships_partner WHERE id BETWEEN %(low)s AND %(high)s
            ) AS draw
        ) AS statistics
    """
    return _by_partner_chunks(connection, sql, "statistics")


def load_categories() -> int:
    from django.db import connection

    from partnerships.models import Category

    ids = list(Category.objects.filter(slug__in=[slug for slug, _ in CATEGORIES]).values_list("slug", "pk"))
    by_slug = dict(ids)
    sql = """
        INSERT INTO partnerships_partner_categories (partner_id, category_id)
        SELECT DISTINCT p.id, (%(ids)s::bigint[])[1 + floor(%(n)s * random() ^ 1.6)::int]
        FROM partnerships_partner p
        CROSS JOIN LATERAL generate_series(1, 1 + ((p.id * 7919 + floor(random() * 3)::bigint) %% 3)::int) AS k
        WHERE p.id BETWEEN %(low)s AND %(high)s
    """
    return _by_partner_chunks(connection, sql, "category rows",
                              ids=[by_slug[slug] for slug, _ in CATEGORIES], n=len(CATEGORIES))


def _by_partner_chunks(connection, sql: str, label: str, **params) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM partnerships_partner")
        first, last = cursor.fetchone()
        inserted = 0
        for low in range(first, last + 1, PARTNER_CHUNK):
            cursor.execute(sql, {**params, "low": low, "high": min(last, low + PARTNER_CHUNK - 1)})
            inserted += cursor.rowcount
            log(f"    {label} {inserted:,}")
    return inserted


# =====================================================================================================
# The plain baseline: the usual first attempt (defined here, never in the project)
# =====================================================================================================

def plain_view():
    import django_filters
    from django.db.models import Q
    from django_filters.rest_framework import DjangoFilterBackend
    from rest_framework import pagination, permissions, serializers, viewsets

    from partnerships import brand_selectors
    from partnerships.api.filters import CountriesFilter
    from partnerships.models import Category, Partner

    class PlainCreatorSerializer(serializers.ModelSerializer):
        categories = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
        followers = serializers.IntegerField(source="statistics.followers", read_only=True)
        avg_views = serializers.IntegerField(source="statistics.avg_views_per_post", read_only=True)
        engagement_rate = serializers.DecimalField(source="statistics.engagement_rate", max_digits=7,
                                                   decimal_places=2, read_only=True, coerce_to_string=False)
        posts_30d = serializers.IntegerField(source="statistics.posts_30d", read_only=True)

        class Meta:
            model = Partner
            fields = ["handle", "display_name", "kind", "country", "categories", "followers", "avg_views",
                      "engagement_rate", "posts_30d"]

    class PlainCreatorFilterSet(django_filters.FilterSet):
        q = django_filters.CharFilter(method="search")
        country = CountriesFilter(field_name="country", lookup_expr="in")
        category = django_filters.ModelMultipleChoiceFilter(field_name="categories__slug", to_field_name="slug",
                                                            queryset=Category.objects.all())
        kind = django_filters.ChoiceFilter(choices=Partner.Kind.choices)
        followers_min = django_filters.NumberFilter(field_name="statistics__followers", lookup_expr="gte")
        followers_max = django_filters.NumberFilter(field_name="statistics__followers", lookup_expr="lte")
        avg_views_min = django_filters.NumberFilter(field_name="statistics__avg_views_per_post", lookup_expr="gte")
        engagement_rate_min = django_filters.NumberFilter(field_name="statistics__engagement_rate",
                                                          lookup_expr="gte")
        ordering = django_filters.OrderingFilter(fields=(
            ("statistics__followers", "followers"), ("statistics__avg_views_per_post", "avg_views"),
            ("statistics__engagement_rate", "engagement_rate")))

        class Meta:
            model = Partner
            fields: list[str] = []

        def search(self, queryset, name, value):
            return queryset.filter(Q(handle__icontains=value) | Q(display_name__icontains=value))

    class PlainPagination(pagination.PageNumberPagination):
        page_size = PAGE_SIZE

    class PlainCreatorViewSet(viewsets.ModelViewSet):
        serializer_class = PlainCreatorSerializer
        permission_classes = [permissions.IsAuthenticated]
        filter_backends = [DjangoFilterBackend]
        filterset_class = PlainCreatorFilterSet
        pagination_class = PlainPagination

        def get_queryset(self):
            # The same marketplace rules (so the same rows), minus the selector's select_related and prefetch.
            return (brand_selectors.marketplace_partners().select_related(None).prefetch_related(None)
                    .order_by("-statistics__followers"))

    return PlainCreatorViewSet


def install_urlconf() -> None:
    """The project's URLs plus the plain baseline, as a module this process's settings point at."""
    from django.conf import settings
    from django.urls import clear_url_caches, path

    from config.urls import urlpatterns

    module = types.ModuleType("bench_search_urls")
    module.urlpatterns = [*urlpatterns, path(PLAIN_PATH.strip("/") + "/", plain_view().as_view({"get": "list"}))]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()


# =====================================================================================================
# Raw SQL: the same page, hand-written
# =====================================================================================================

CATEGORY_IDS: dict[str, int] = {}  # slug -> id, read once by measure()
RAW_ORDER = {"followers": "s.followers", "avg_views": "s.avg_views_per_post", "engagement_rate": "s.engagement_rate"}
OUTER_ORDER = {"followers": "followers", "avg_views": "avg_views", "engagement_rate": "engagement_rate"}


def raw_where(params: dict, after: tuple | None = None) -> tuple[str, dict]:
    """The marketplace rules and the query's filters, as brand_selectors.creator_page applies them."""
    from django.conf import settings
    from django.utils import timezone

    today = timezone.localdate()
    try:
        adult_born_by = today.replace(year=today.year - settings.MARKETPLACE_MIN_AGE)
    except ValueError:
        adult_born_by = today.replace(year=today.year - settings.MARKETPLACE_MIN_AGE, day=28)
    adult = "p.kind IN ('publisher', 'institution') OR p.date_of_birth <= %(adult_born_by)s"
    if settings.MARKETPLACE_MIN_AGE <= 18:
        adult += " OR (p.date_of_birth IS NULL AND p.age_verified)"
    where = [f"({adult})", "p.opted_into_brand_deals", "p.status = 'active'", "s.followers >= %(min_followers)s",
             "s.views_30d >= %(min_views)s", "s.posts_30d >= %(min_posts)s"]
    values = {"adult_born_by": adult_born_by, "min_followers": settings.MARKETPLACE_MIN_FOLLOWERS,
              "min_views": settings.MARKETPLACE_MIN_VIEWS_30D, "min_posts": settings.MARKETPLACE_MIN_POSTS_30D}
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
    # As the API (brand_selectors.creator_page): with a text search the key is written so no index provides
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

def cpu_busy(seconds: float) -> float:
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def other_heavy_queries(admin) -> list:
    return admin.execute("""
        SELECT datname, backend_type, round(extract(epoch FROM now() - query_start))::int, left(query, 60)
        FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND state = 'active'
          AND backend_type IN ('client backend', 'autovacuum worker', 'parallel worker')
          AND now() - query_start > make_interval(secs => %s)
    """, [QUIET_QUERY_SECONDS]).fetchall()


def wait_for_quiet(admin, max_wait: float) -> dict:
    """Wait until, for QUIET_SAMPLES samples of 2 s in a row, no other backend has had an active query for 2 s
    and the CPUs were mostly idle. Gives up after max_wait seconds (the report says so)."""
    started, quiet, last_note = time.monotonic(), 0, -1.0
    while True:
        others = other_heavy_queries(admin)
        busy = cpu_busy(2)
        if not others and busy < QUIET_CPU_BUSY:
            quiet += 1
            if quiet >= QUIET_SAMPLES:
                return {"waited_s": round(time.monotonic() - started, 1), "gave_up": False, "cpu_busy": round(busy, 2)}
            continue
        quiet = 0
        waited = time.monotonic() - started
        if waited > max_wait:
            log(f"    machine still busy after {waited:,.0f} s, measuring anyway: CPU {busy:.0%}, {others}")
            return {"waited_s": round(waited, 1), "gave_up": True, "cpu_busy": round(busy, 2),
                    "others": [list(map(str, row)) for row in others]}
        if last_note < 0 or waited - last_note > 60:
            last_note = waited
            log(f"    waiting for a quiet machine: CPU {busy:.0%} busy, other queries: {others}")
        time.sleep(1)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
OTHER_LOAD_LIMIT = 0.20  # cores used by other processes or stolen by the hypervisor, on average during a block,
# above which the block is redone


def process_ticks() -> dict[int, int]:
    """utime + stime of every process, in clock ticks."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


class OtherLoad:
    """CPU used by processes other than this one, its children and this database's backends, during a block:
    another benchmark or test run that started after the quiet wait shows here, and the block is redone.
    (Our queries' parallel workers live only while a query runs, so they are in neither snapshot.)"""

    def __init__(self, admin, dbname: str) -> None:
        self.admin, self.dbname = admin, dbname

    def ours(self) -> set[int]:
        pids = {os.getpid(), *self.children()}
        rows = self.admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s OR pid = pg_backend_pid()",
                                  [self.dbname]).fetchall()
        return pids | {row[0] for row in rows}

    @staticmethod
    def children() -> set[int]:
        """Every descendant (the HTTP server's workers)."""
        found, todo = set(), [os.getpid()]
        while todo:
            pid = todo.pop()
            try:
                kids = {int(kid) for kid in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
            except OSError:
                kids = set()
            todo += list(kids - found)
            found |= kids
        return found

    @staticmethod
    def steal_ticks() -> int:
        """Time the hypervisor gave this VM's CPUs to someone else (/proc/stat, all CPUs)."""
        return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])

    def __enter__(self) -> OtherLoad:
        self.started, self.before, self.steal_before = time.monotonic(), process_ticks(), self.steal_ticks()
        return self

    def __exit__(self, *exc) -> None:
        after, elapsed, ours = process_ticks(), time.monotonic() - self.started, self.ours()
        self.steal = (self.steal_ticks() - self.steal_before) / CLOCK_TICKS / max(elapsed, 1e-6)
        used = {pid: ticks - self.before.get(pid, 0) for pid, ticks in after.items() if pid not in ours}
        self.cores = sum(used.values()) / CLOCK_TICKS / max(elapsed, 1e-6)
        self.top = []
        for pid, ticks in sorted(used.items(), key=lambda item: -item[1])[:3]:
            if ticks / CLOCK_TICKS / max(elapsed, 1e-6) < 0.05:
                break
            try:
                name = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()[:70]
            except OSError:
                name = "(ended)"
            self.top.append(f"{ticks / CLOCK_TICKS / max(elapsed, 1e-6):.2f} {name}")


def measured_block(args, admin, block, label: str) -> tuple[object, dict]:
    """Run `block` after a quiet wait; redo it (up to --retries times) when other processes used more than
    OTHER_LOAD_LIMIT cores meanwhile; keep the least disturbed attempt."""
    attempts = []
    for attempt in range(1 + args.retries):
        quiet = wait_for_quiet(admin, args.max_wait)
        with OtherLoad(admin, args.db) as load:
            outcome = block()
        attempts.append((load.cores + load.steal, outcome, quiet, load.top, load.cores, load.steal))
        if load.cores + load.steal <= OTHER_LOAD_LIMIT:
            break
        log(f"    {label}: other processes used {load.cores:.2f} cores meanwhile ({'; '.join(load.top)}), "
            f"the hypervisor stole {load.steal:.2f}; "
            + ("redoing it" if attempt < args.retries else "keeping the least disturbed attempt"))
    total, outcome, quiet, top, cores, steal = min(attempts, key=lambda item: item[0])
    return outcome, {**quiet, "other_cores": round(cores, 2), "steal_cores": round(steal, 2),
                     "attempts": len(attempts), "disturbed": total > OTHER_LOAD_LIMIT, "others_top": top}


class Paths:
    """The three ways to get one query's page, each a callable that returns when the page is complete."""

    def __init__(self, client, raw) -> None:
        self.client, self.raw = client, raw

    def api(self, request):
        path, data = request
        # secure: as behind the TLS-terminating proxy (without DEBUG the settings redirect plain HTTP).
        response = self.client.get(path, data, secure=True)
        assert response.status_code == 200, (path, data, response.status_code, response.content[:300])
        return response

    plain = api

    def sql(self, request):
        sql, values = request
        return self.raw.execute(sql, values).fetchall()


def capture(function, request) -> tuple[object, list[dict]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        result = function(request)
    return result, [{"sql": q["sql"], "ms": float(q["time"]) * 1000} for q in context.captured_queries]


def is_count(sql: str) -> bool:
    return "COUNT(" in sql.upper()


def is_full_table_count(sql: str) -> bool:
    upper = sql.upper()
    return is_count(sql) and '"PARTNERSHIPS_PARTNER"' in upper and " WHERE " not in upper


def main_statement(queries: list[dict]) -> str:
    # The page statement: brand_selectors.creator_page writes its table names unquoted.
    pages = [q["sql"] for q in queries
             if re.search(r'FROM "?partnerships_partner"? ', q["sql"]) and "LIMIT" in q["sql"]]
    return pages[0] if pages else ""


def timed_rounds(paths: dict, requests: dict, runs: int, warmup: int) -> tuple[dict, dict]:
    """Warm-up, then `runs` timed requests per path. The API and raw SQL alternate request by request, in an
    order rotating by round, so both see the same moments of the machine; the plain baseline (600+ ms a request,
    thousands of objects) is timed after them, so its garbage and cache misses do not land in their timings.
    Before each timed request the garbage left by the previous one is collected, untimed: every request starts
    from the same state and pays only for its own collections. Returns the wall times and this process's CPU
    times (the Python side: the part other processes' load cannot inflate much), in milliseconds."""
    names = list(paths)
    for name in names:
        for _ in range(warmup):
            paths[name](requests[name])
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    paired = [name for name in names if name != "plain"]
    order = [[paired[(index + offset) % len(paired)] for offset in range(len(paired))] for index in range(runs)]
    if "plain" in names:
        order += [["plain"]] * runs
    for round_names in order:
        for name in round_names:
            gc.collect()
            started, started_cpu = time.perf_counter(), time.process_time()
            paths[name](requests[name])
            times[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - started_cpu) * 1000)
    return times, cpu


def summary(values: list[float]) -> dict:
    return {"p50": percentile(values, 0.50), "p95": percentile(values, 0.95), "min": min(values),
            "max": max(values), "n": len(values)}


def measure(args: argparse.Namespace) -> dict:
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient

    from partnerships import brand_services
    from partnerships.models import Brand

    install_urlconf()
    user = get_user_model().objects.get(username="bench-search")
    brand = Brand.objects.get(slug="bench-brand")
    _token, secret = brand_services.api_token_create(user=user, brand_id=brand.pk, name="bench-search")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    # Like Django's psycopg backend: client-side binding, never server-side prepared statements.
    raw = psycopg.connect(f"{args.server}/{args.db}", autocommit=True, prepare_threshold=None,
                          cursor_factory=psycopg.ClientCursor)
    admin = admin_connection(args.server)
    paths = Paths(client, raw)

    from partnerships.models import Category

    CATEGORY_IDS.update(Category.objects.values_list("slug", "pk"))
    requests = build_requests(paths)
    results: list[dict] = []
    for label, request in requests.items():
        log(f"query: {label}")
        result = {"label": label, "params": request["params"]}
        api_response, api_queries = capture(paths.api, request["api"])
        plain_response, plain_queries = capture(paths.plain, request["plain"])
        raw_rows = paths.sql(request["sql"])
        api_handles = [row["handle"] for row in api_response.json()["results"]]
        raw_page = [row_to_dict(row) for row in raw_rows[:PAGE_SIZE]]
        result["rows"] = len(api_handles)
        result["api_equals_sql"] = api_response.json()["results"] == raw_page
        result["api_handles_equal_sql"] = api_handles == [row["handle"] for row in raw_page]
        result["plain_rows"] = len(plain_response.json()["results"])
        result["plain_count"] = plain_response.json()["count"]
        result["matching"] = matching_rows(raw, request["params"]) if request["after"] is None else None
        result["api_queries"] = api_queries
        result["plain_queries_n"] = len(plain_queries)
        result["plain_counts"] = [q for q in plain_queries if is_count(q["sql"])]
        result["api_main_sql"] = main_statement(api_queries)
        (times, cpu), result["quiet"] = measured_block(args, admin, lambda request=request: timed_rounds(
            {"api": paths.api, "sql": paths.sql, "plain": paths.plain},
            {"api": request["api"], "sql": request["sql"], "plain": request["plain"]}, args.runs, args.warmup),
            label)
        result["times"] = {name: summary(values) for name, values in times.items()}
        result["cpu"] = {name: summary(values) for name, values in cpu.items()}
        log("    " + ", ".join(f"{name} p50 {s['p50']:.1f} / p95 {s['p95']:.1f} ms"
                               for name, s in result["times"].items())
            + f"; {len(api_queries)} API queries; page equal to SQL: {result['api_equals_sql']}")
        results.append(result)

    slowest = sorted(results, key=lambda r: r["times"]["api"]["p95"], reverse=True)[:3]
    plans = {r["label"]: explain(connection, r["api_main_sql"]) for r in slowest}
    from partnerships.api.views import CreatorSearchView

    worst = max(results, key=lambda r: r["times"]["api"]["p95"] - r["times"]["sql"]["p95"])
    phases = {}
    for label in dict.fromkeys([results[0]["label"], worst["label"]]):
        log(f"where the time goes: {label}")
        with PhaseProfiler(CreatorSearchView) as profiler:
            phases[label], phases[label + " quiet"] = measured_block(
                args, admin, lambda label=label: profiler.run(paths.api, requests[label]["api"], 30), label)
    http = measure_http(args, requests, secret, admin) if args.http else None
    fixes = try_fixes(args, requests, paths, admin, results) if args.try_fixes else None
    server = {name: raw.execute(f"SHOW {name}").fetchone()[0]
              for name in ("server_version", "shared_buffers", "work_mem", "effective_cache_size", "jit",
                           "max_parallel_workers_per_gather", "random_page_cost")}
    sizes = {table: raw.execute(f"SELECT pg_size_pretty(pg_total_relation_size('{table}')), "
                                f"(SELECT reltuples::bigint FROM pg_class WHERE oid = '{table}'::regclass)").fetchone()
             for table in ("partnerships_partner", "partnerships_partnerstatistics",
                           "partnerships_partner_categories")}
    marketplace = matching_rows(raw, {})
    from django.conf import settings

    git = ["git", "--no-optional-locks", "-C", str(ROOT)]  # read-only: never refreshes the index

    def read(*command: str) -> str:
        return subprocess.run([*git, *command], capture_output=True, text=True).stdout

    code = {"head": read("rev-parse", "--short", "HEAD").strip(),
            "changed": read("status", "--porcelain", "--", "partnerships", "config").split("\n")[:10],
            "middleware": [name.rsplit(".", 1)[-1] for name in settings.MIDDLEWARE]}
    raw.close()
    admin.close()
    return {"results": results, "plans": plans, "http": http, "fixes": fixes, "server": server, "phases": phases,
            "code": code,
            "sizes": {k: list(map(str, v)) for k, v in sizes.items()}, "marketplace": marketplace}


def row_to_dict(row) -> dict:
    """A raw row as the API serializes it (engagement_rate a number, categories a list)."""
    _id, handle, display_name, kind, country, followers, avg_views, engagement, posts, categories = row
    return {"handle": handle, "display_name": display_name, "kind": kind, "country": country,
            "categories": list(categories), "followers": followers, "avg_views": avg_views,
            "engagement_rate": float(engagement), "posts_30d": posts}


def build_requests(paths: Paths) -> dict[str, dict]:
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


def explain(connection, sql: str) -> str:
    if not sql:
        return "(no statement)"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_server_command(port: int) -> tuple[str, list[str]]:
    """gunicorn (one sync worker: requests come one at a time) when installed, else runserver."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if gunicorn.exists():
        config = ["--config", "config/gunicorn.py"] if (ROOT / "config" / "gunicorn.py").exists() else []
        # The project's settings, but one worker (the client sends one request at a time) and no recycling
        # in the middle of a measurement.
        return "gunicorn (project config, 1 sync worker)", [
            str(gunicorn), "config.wsgi:application", *config, "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--worker-class", "sync", "--max-requests", "0"]
    return "manage.py runserver, single-threaded", [sys.executable, str(ROOT / "manage.py"), "runserver",
                                                    f"127.0.0.1:{port}", "--noreload", "--nothreading",
                                                    "--skip-checks"]


def measure_http(args: argparse.Namespace, requests: dict, secret: str, admin) -> dict:
    """The API over HTTP, server in a child process, one new connection per request (http.client), with the
    headers a TLS-terminating proxy adds."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    port = free_port()
    server_name, command = http_server_command(port)
    server = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)

        def get(target: str) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", target, headers={"Authorization": f"Token {secret}", "Host": "127.0.0.1",
                                                 "X-Forwarded-Proto": "https"})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            assert response.status == 200, (target, response.status, body[:300])

        out = {"server": server_name}
        log(f"HTTP ({server_name})")
        for label, request in requests.items():
            path, data = request["api"]
            if data is None:
                parts = urlsplit(path)
                target = f"{parts.path}?{parts.query}"
            else:
                target = f"{path}?{urlencode(data, doseq=True)}" if data else path
            def block(target=target) -> list[float]:
                for _ in range(args.warmup):
                    get(target)
                times = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    get(target)
                    times.append((time.perf_counter() - started) * 1000)
                return times

            times, quiet = measured_block(args, admin, block, label)
            out[label] = {**summary(times), "quiet": quiet}
            log(f"    {label}: p50 {out[label]['p50']:.1f} / p95 {out[label]['p95']:.1f} ms")
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


class PhaseProfiler:
    """Where an API request's time goes: wraps the framework's steps (the view's own methods, DRF's, Django's
    SQL compiler and cursor, the JSON renderer) and records CPU and wall milliseconds of each per request.
    Nested steps are counted inside their parent; SQL compilation only at its outermost call."""

    def __init__(self, view_class) -> None:
        from django.core.handlers.base import BaseHandler
        from django.db.backends.utils import CursorWrapper
        from django.db.models.sql.compiler import SQLCompiler
        from rest_framework import generics
        from rest_framework import views as drf_views
        from rest_framework.renderers import JSONRenderer

        from partnerships import brand_selectors
        from partnerships.api.filters import CreatorFilterSet
        from partnerships.api.pagination import CreatorKeysetPagination

        self.targets = [
            (BaseHandler, "get_response", "Django handler: middleware + URL + view"),
            (drf_views.APIView, "dispatch", "  DRF dispatch"),
            (drf_views.APIView, "perform_authentication", "    authentication (token query)"),
            (drf_views.APIView, "check_permissions", "    permissions"),
            (drf_views.APIView, "check_throttles", "    throttle"),
            (view_class, "list", "    the view's list: parameters, page, response"),
            (CreatorFilterSet, "validated", "      parameters (FilterSet's form)"),
            (CreatorKeysetPagination, "paginate_creators", "      paginate_creators (cursor, page, links)"),
            (brand_selectors, "creator_page", "        creator_page (SQL built and run, rows)"),
            (brand_selectors, "creator_rows", "      creator_rows (response rows)"),
            (generics.GenericAPIView, "get_paginated_response", "    get_paginated_response"),
            (JSONRenderer, "render", "  JSON rendering"),
            (SQLCompiler, "as_sql", "  (across the above) SQL compilation"),
            (CursorWrapper, "execute", "  (across the above) cursor.execute: send, PostgreSQL, receive"),
        ]
        self.saved: list[tuple] = []
        self.current: dict[str, list[float]] = {}
        self.depth: dict[str, int] = {}

    def __enter__(self) -> PhaseProfiler:
        for owner, name, label in self.targets:
            original = owner.__dict__.get(name)
            self.saved.append((owner, name, original))
            setattr(owner, name, self._wrap(getattr(owner, name), label))
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self.saved):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    def _wrap(self, function, label: str):
        profiler = self

        def wrapper(*args, **kwargs):
            depth = profiler.depth.get(label, 0)
            profiler.depth[label] = depth + 1
            started, started_cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                profiler.depth[label] = depth
                if depth == 0:
                    cpu, wall = profiler.current.setdefault(label, [0.0, 0.0])[:2]
                    profiler.current[label] = [cpu + (time.process_time() - started_cpu) * 1000,
                                               wall + (time.perf_counter() - started) * 1000]

        return wrapper

    def run(self, request_function, request, runs: int) -> list[dict]:
        """Median CPU and wall ms per step over `runs` requests (after two untimed)."""
        samples: dict[str, list[list[float]]] = {}
        for index in range(runs + 2):
            self.current = {}
            started, started_cpu = time.perf_counter(), time.process_time()
            request_function(request)
            self.current["whole request (test client included)"] = [(time.process_time() - started_cpu) * 1000,
                                                                     (time.perf_counter() - started) * 1000]
            if index >= 2:
                for label, values in self.current.items():
                    samples.setdefault(label, []).append(values)
        order = ["whole request (test client included)", *(label for _, _, label in self.targets)]
        return [{"step": label, "cpu": statistics.median(v[0] for v in samples[label]),
                 "wall": statistics.median(v[1] for v in samples[label]),
                 "share": len(samples[label]) / runs} for label in order if label in samples]


def try_fixes(args: argparse.Namespace, requests: dict, paths: Paths, admin, before: list[dict]) -> dict:
    """The mix again (API and raw SQL) with fix_indexes() created in the bench database; dropped afterwards."""
    from django.db import connection

    indexes = fix_indexes()
    log("fixes: creating " + ", ".join(indexes))
    with connection.cursor() as cursor:
        for name, ddl in indexes.items():
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
            started = time.perf_counter()
            cursor.execute(ddl)
            log(f"    {name}: {time.perf_counter() - started:.1f} s")
        cursor.execute("ANALYZE partnerships_partnerstatistics")
    out: dict = {"indexes": indexes, "results": {}, "plans": {}}
    try:
        for label, request in requests.items():
            response, queries = capture(paths.api, request["api"])
            raw_rows = paths.sql(request["sql"])
            equal = response.json()["results"] == [row_to_dict(row) for row in raw_rows[:PAGE_SIZE]]
            (times, cpu), quiet = measured_block(args, admin, lambda request=request: timed_rounds(
                {"api": paths.api, "sql": paths.sql}, {"api": request["api"], "sql": request["sql"]}, args.runs,
                args.warmup), label)
            out["results"][label] = {"times": {name: summary(v) for name, v in times.items()}, "equal": equal,
                                     "cpu": {name: summary(v) for name, v in cpu.items()}, "quiet": quiet,
                                     "main_sql": main_statement(queries)}
            log(f"    {label}: API p95 {out['results'][label]['times']['api']['p95']:.1f}, "
                f"SQL p95 {out['results'][label]['times']['sql']['p95']:.1f} ms")
        slowest = sorted(before, key=lambda r: r["times"]["api"]["p95"], reverse=True)[:3]
        out["plans"] = {r["label"]: explain(connection, out["results"][r["label"]]["main_sql"]) for r in slowest}
    finally:
        with connection.cursor() as cursor:
            for name in indexes:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
    return out


# =====================================================================================================
# Report
# =====================================================================================================

def targets(result: dict) -> tuple[bool, list[str]]:
    api, sql, plain = result["times"]["api"], result["times"]["sql"], result["times"]["plain"]
    missed = []
    if api["p95"] - sql["p95"] > TARGET_OVERHEAD_MS:
        missed.append(f"overhead {api['p95'] - sql['p95']:.1f} ms > {TARGET_OVERHEAD_MS:.0f}")
    if not (api["p50"] < plain["p50"] and api["p95"] < plain["p95"]):
        missed.append("not faster than plain")
    if any(is_count(q["sql"]) for q in result["api_queries"]):
        missed.append("COUNT")
    if not result["api_equals_sql"]:
        missed.append("page differs from SQL")
    return not missed, missed


def cell(summary_: dict) -> str:
    return f"{summary_['p50']:.1f} / {summary_['p95']:.1f}"


def escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_report(args: argparse.Namespace, load: dict, measured: dict) -> str:
    results = measured["results"]
    lines = ["# Creator search benchmark: API vs raw SQL vs plain DRF", "",
             f"Generated {dt.datetime.now():%Y-%m-%d %H:%M} by `bench/search.py`: {args.partners:,} partners "
             f"({measured['marketplace']:,} in the marketplace), page size {PAGE_SIZE}, {args.runs} timed requests "
             f"per query and path after {args.warmup} warm-up, interleaved; in-process (APIClient with a token).",
             "",
             "| query | API p50 / p95 ms | raw SQL p50 / p95 ms | API p95 − SQL p95 | plain p50 / p95 ms "
             "| queries per API request | COUNT? | targets met? |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for result in results:
        times = result["times"]
        ok, missed = targets(result)
        counts = sum(1 for q in result["api_queries"] if is_count(q["sql"]))
        full = sum(1 for q in result["api_queries"] if is_full_table_count(q["sql"]))
        plain_counts = len(result["plain_counts"])
        lines.append(
            f"| {escape(result['label'])} | {cell(times['api'])} | {cell(times['sql'])} "
            f"| {times['api']['p95'] - times['sql']['p95']:+.1f} | {cell(times['plain'])} "
            f"| {len(result['api_queries'])} | API: {f'YES ({counts}, {full} full-table)' if counts else 'none'}; "
            f"plain: {plain_counts} "
            f"| {'yes' if ok else 'NO: ' + '; '.join(missed)} |")
    all_ok = all(targets(r)[0] for r in results)
    lines += ["", f"Targets, per query: API p95 − raw SQL p95 ≤ {TARGET_OVERHEAD_MS:.0f} ms; API faster than the "
              "plain baseline at p50 and p95; no COUNT in any API request; the API's page equal to the raw SQL's "
              f"(every field, row for row). **All met: {'yes' if all_ok else 'NO'}.**", ""]
    if measured.get("fixes"):
        fixes = measured["fixes"]
        lines += ["## With the candidate indexes (bench database only)", "",
                  "Indexes: " + "; ".join(f"`{ddl}`" for ddl in fixes["indexes"].values()), "",
                  "| query | API p50 / p95 ms before | after | raw SQL p50 / p95 ms before | after "
                  "| API p95 − SQL p95 after | page equal? |", "|---|---:|---:|---:|---:|---:|---|"]
        for result in results:
            after = fixes["results"][result["label"]]
            lines.append(f"| {escape(result['label'])} | {cell(result['times']['api'])} "
                         f"| {cell(after['times']['api'])} | {cell(result['times']['sql'])} "
                         f"| {cell(after['times']['sql'])} "
                         f"| {after['times']['api']['p95'] - after['times']['sql']['p95']:+.1f} "
                         f"| {'yes' if after['equal'] else 'NO'} |")
        lines.append("")
    if measured.get("http"):
        lines += [f"## The API over HTTP ({measured['http']['server']}, a new connection per request, "
                  "X-Forwarded-Proto: https)", "",
                  "| query | HTTP p50 / p95 ms | in-process p50 / p95 ms |", "|---|---:|---:|"]
        for result in results:
            lines.append(f"| {escape(result['label'])} | {cell(measured['http'][result['label']])} "
                         f"| {cell(result['times']['api'])} |")
        lines.append("")
    phases = {label: steps for label, steps in measured.get("phases", {}).items() if not label.endswith(" quiet")}
    if phases:
        labels = list(phases)
        lines += ["## Where an API request's time goes (median ms per request, 30 requests, CPU of this process "
                  "/ wall)", "", "| step | " + " | ".join(escape(label) for label in labels) + " |",
                  "|---|" + "---:|" * len(labels)]
        steps = list(dict.fromkeys(step["step"] for label in labels for step in phases[label]))
        for step in steps:
            row = []
            for label in labels:
                found = next((s for s in phases[label] if s["step"] == step), None)
                row.append(f"{found['cpu']:.2f} / {found['wall']:.2f}" if found else "")
            lines.append(f"| {step.replace('  ', '&nbsp;&nbsp;')} | " + " | ".join(row) + " |")
        lines += ["", "Steps are nested as indented; the two \"across the above\" rows add up their calls wherever "
                  "they happen (cursor.execute's wall time includes PostgreSQL's). CPU is this process only.", ""]
    lines += ["## Details", "",
              "| query | marketplace rows matching | API rows | plain count | API queries (ms each, untimed run) "
              "| API / raw SQL CPU p50 ms (this process) | plain queries | plain COUNT ms "
              "| quiet wait; other load while timing |",
              "|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for result in results:
        queries = ", ".join(f"{short(q['sql'])} {q['ms']:.1f}" for q in result["api_queries"])
        counts = ", ".join(f"{q['ms']:.1f}" for q in result["plain_counts"])
        matching = f"{result['matching']:,}" if result["matching"] is not None else ""
        quiet = result["quiet"]
        waited = (f"{quiet['waited_s']} s{' (gave up)' if quiet['gave_up'] else ''}; others "
                  f"{quiet['other_cores']:.2f} cores, steal {quiet['steal_cores']:.2f}, {quiet['attempts']} attempt(s)"
                  + (" DISTURBED" if quiet["disturbed"] else ""))
        lines.append(f"| {escape(result['label'])} | {matching} | {result['rows']} | {result['plain_count']:,} "
                     f"| {escape(queries)} | {result['cpu']['api']['p50']:.1f} / {result['cpu']['sql']['p50']:.1f} "
                     f"| {result['plain_queries_n']} | {counts} "
                     f"| {waited} |")
    lines += ["", "Parameters: " + "; ".join(f"{escape(r['label'])}: `{json.dumps(r['params'])}`" for r in results),
              "", f"Server: {json.dumps(measured['server'])}", "",
              f"Code measured: commit {measured['code']['head']}, uncommitted changes under partnerships/ and config/: "
              f"{json.dumps([line for line in measured['code']['changed'] if line])}; middleware: "
              f"{', '.join(measured['code']['middleware'])}.", "",
              f"Tables (total size with indexes, rows): {json.dumps(measured['sizes'])}", ""]
    lines += ["## Plans of the API's main statement, three slowest queries (EXPLAIN ANALYZE, BUFFERS)", ""]
    by_label = {r["label"]: r for r in results}
    for label, plan in measured["plans"].items():
        lines += [f"### {label}", "", "```sql", by_label[label]["api_main_sql"], "```", "", "```", plan, "```", ""]
    if measured.get("fixes"):
        lines += ["## The same three with the candidate indexes", ""]
        for label, plan in measured["fixes"]["plans"].items():
            lines += [f"### {label}", "", "```", plan, "```", ""]
    lines += ["## Load", "", "| step | s | rows |", "|---|---:|---:|"]
    lines += [f"| {s['step']} | {s['seconds']:,.1f} | {s['rows'] if s['rows'] is not None else ''} |"
              for s in load["steps"]]
    if load.get("reused_from"):
        lines.append(f"\n(reused, loaded at {load['reused_from']})")
    return "\n".join(lines) + "\n"


def short(sql: str) -> str:
    """A statement in a few words: the verb and the main table."""
    text = " ".join(sql.split())
    verb = text.split(" ", 1)[0].upper()
    match = re.search(r'FROM "?(\w+)"?', text) if verb == "SELECT" else re.search(r'(?:UPDATE|INTO) "?(\w+)"?', text)
    table = match.group(1).replace("partnerships_", "") if match else ""
    if verb == "SELECT" and " LIMIT " in text and table == "partner":
        table += " (page)"
    if is_count(text):
        verb = "COUNT"
    return f"{verb} {table}".strip()


# =====================================================================================================
# Entry point
# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--partners", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed requests per query and path")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per query and path first")
    parser.add_argument("--reuse", action="store_true", help="keep a database already loaded with the same size")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL, no database")
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
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    load = prepare_database(args)
    measured = measure(args)
    report = render_report(args, load, measured)
    path = REPORT_PATH if args.db == "cp_bench_search" else REPORT_PATH.with_name(f"search-{args.db}.md")
    path.write_text(report)
    print()
    print(report)
    log(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
