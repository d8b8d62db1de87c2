"""The measuring of bench/search.py: the plain baseline (a ModelViewSet defined here, never in the project), the
three paths to a query's page (API, raw SQL, plain), timed rounds and their summaries, and the whole measurement of
the mix on a database Django is set up on.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import time
import types

from bench import harness
from bench.harness import log
from bench.search_timing import PhaseProfiler, measure_http, measured_block, summary

PAGE_SIZE = 50
API_PATH = "/api/v1/creators/"
PLAIN_PATH = "/bench/plain/creators/"


def plain_view():
    import django_filters
    from django.db.models import Q
    from django_filters.rest_framework import DjangoFilterBackend
    from rest_framework import pagination, permissions, serializers, viewsets

    from partnerships.marketplace import params, rules
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

    class CountriesFilter(django_filters.Filter):
        field_class = params.CountryListField

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
            return (rules.marketplace_partners().select_related(None).prefetch_related(None)
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
    # The page statement: marketplace.search.creator_page writes its table names unquoted.
    pages = [q["sql"] for q in queries
             if re.search(r'FROM "?partnerships_(partner|marketplacecreator)"? ', q["sql"]) and "LIMIT" in q["sql"]]
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


def measure(args: argparse.Namespace, build_requests, matching_rows, fix_indexes) -> dict:
    """Every query of the mix on the three paths (`build_requests(paths)` makes their requests, `matching_rows`
    counts a query's marketplace rows in raw SQL), then plans, profiles, HTTP and (--try-fixes) `fix_indexes()`."""
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient

    from partnerships.marketplace import services as marketplace_services
    from partnerships.models import Brand

    install_urlconf()
    user = get_user_model().objects.get(username="bench-search")
    brand = Brand.objects.get(slug="bench-brand")
    _token, secret = marketplace_services.api_token_create(user=user, brand_id=brand.pk, name="bench-search")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    # Like Django's psycopg backend: client-side binding, never server-side prepared statements.
    raw = psycopg.connect(f"{args.server}/{args.db}", autocommit=True, prepare_threshold=None,
                          cursor_factory=psycopg.ClientCursor)
    admin = harness.admin_connection(args.server)
    paths = Paths(client, raw)

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
    from partnerships.marketplace.api.views import CreatorSearchView

    worst = max(results, key=lambda r: r["times"]["api"]["p95"] - r["times"]["sql"]["p95"])
    phases = {}
    for label in dict.fromkeys([results[0]["label"], worst["label"]]):
        log(f"where the time goes: {label}")
        with PhaseProfiler(CreatorSearchView) as profiler:
            phases[label], phases[label + " quiet"] = measured_block(
                args, admin, lambda label=label: profiler.run(paths.api, requests[label]["api"], 30), label)
    http = measure_http(args, requests, secret, admin) if args.http else None
    fixes = try_fixes(args, requests, paths, admin, results, fix_indexes) if args.try_fixes else None
    server = {name: raw.execute(f"SHOW {name}").fetchone()[0]
              for name in ("server_version", "shared_buffers", "work_mem", "effective_cache_size", "jit",
                           "max_parallel_workers_per_gather", "random_page_cost")}
    sizes = {table: raw.execute(f"SELECT pg_size_pretty(pg_total_relation_size('{table}')), "
                                f"(SELECT reltuples::bigint FROM pg_class WHERE oid = '{table}'::regclass)").fetchone()
             for table in ("partnerships_partner", "partnerships_partnerstatistics",
                           "partnerships_partner_categories")}
    marketplace = matching_rows(raw, {})
    from django.conf import settings

    code = {"head": harness.git("rev-parse", "--short", "HEAD").strip(),
            "changed": harness.git("status", "--porcelain", "--", "partnerships", "config").split("\n")[:10],
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


def explain(connection, sql: str) -> str:
    return harness.explain(connection, sql) if sql else "(no statement)"


def try_fixes(args: argparse.Namespace, requests: dict, paths: Paths, admin, before: list[dict],
              fix_indexes) -> dict:
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
