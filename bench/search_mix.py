"""The realistic mix of brand searches (bench/search.py's MIX), focused: per query, p50/p95 in process of the API
(DRF's APIClient, the whole middleware, token, throttle, page), of the API's own page statement run by hand (psycopg,
client-side binding like Django) and of bench/search.py's hand-written statement over partners and statistics (the
search's definition before its table, migration 0022); the API's page compared with that statement's, row for row;
EXPLAIN (ANALYZE, BUFFERS) of the API's statement; the load average before and after each query's block.

Run by hand from the project root, under the benchmark lock, on a database bench/search.py loaded (and migrated):

    flock /tmp/bench.lock .venv/bin/python bench/search_mix.py [--runs 30] [--warmup 3] [--db cp_bench_search]

It waits (--max-wait seconds at most) for a quiet machine before each query, as bench/search.py does, and writes
bench/results/search-mix.md (git-ignored). Target (issue 18): every query's API p95 <= 30 ms."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness, search, search_measure  # noqa: E402
from bench.search_timing import measured_block, summary  # noqa: E402

TARGET_P95_MS = 30.0


def measure(args: argparse.Namespace) -> list[dict]:
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient

    from partnerships.marketplace import services as marketplace_services
    from partnerships.models import Brand, Category

    search.CATEGORY_IDS.update(Category.objects.values_list("slug", "pk"))
    user = get_user_model().objects.get(username="bench-search")
    brand = Brand.objects.get(slug="bench-brand")
    _token, secret = marketplace_services.api_token_create(user=user, brand_id=brand.pk, name="bench-search-mix")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    raw = psycopg.connect(f"{args.server}/{args.db}", autocommit=True, prepare_threshold=None,
                          cursor_factory=psycopg.ClientCursor)
    admin = harness.admin_connection(args.server)
    paths = search_measure.Paths(client, raw)
    results = []
    for label, request in search.build_requests(paths).items():
        harness.log(f"query: {label}")
        response, queries = search_measure.capture(paths.api, request["api"])
        statement = search_measure.main_statement(queries)
        old_rows = paths.sql(request["sql"])
        equal = response.json()["results"] == [search_measure.row_to_dict(row)
                                               for row in old_rows[:search_measure.PAGE_SIZE]]
        load_before = os.getloadavg()
        (times, _cpu), quiet = measured_block(args, admin, lambda request=request, statement=statement:
            search_measure.timed_rounds(
                {"api": paths.api, "statement": paths.sql, "old statement": paths.sql},
                {"api": request["api"], "statement": (statement, None), "old statement": request["sql"]},
                args.runs, args.warmup), label)
        result = {"label": label, "equal": equal, "rows": len(response.json()["results"]),
                  "times": {name: summary(values) for name, values in times.items()}, "quiet": quiet,
                  "load": (load_before, os.getloadavg()), "plan": harness.explain(connection, statement)}
        harness.log("    " + ", ".join(f"{name} p50 {s['p50']:.1f} / p95 {s['p95']:.1f} ms"
                                       for name, s in result["times"].items())
                    + f"; page equal to the old statement's: {equal}; load {load_before[0]:.2f}")
        results.append(result)
    raw.close()
    admin.close()
    return results


def render(args: argparse.Namespace, results: list[dict]) -> str:
    lines = [f"# The search mix, {args.runs} timed requests per query and path ({time.strftime('%Y-%m-%d %H:%M')})",
             "", f"Code: {harness.git('rev-parse', '--short', 'HEAD').strip()}; database {args.db}.", "",
             "| query | rows | API p50 / p95 ms | its statement p50 / p95 ms | old statement p50 / p95 ms "
             "| page = old | API p95 <= 30 ms | load average (1 min) before → after | other cores |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        t = r["times"]
        lines.append(
            f"| {r['label']} | {r['rows']} | {t['api']['p50']:.1f} / {t['api']['p95']:.1f} "
            f"| {t['statement']['p50']:.1f} / {t['statement']['p95']:.1f} "
            f"| {t['old statement']['p50']:.1f} / {t['old statement']['p95']:.1f} | {r['equal']} "
            f"| {'yes' if t['api']['p95'] <= TARGET_P95_MS else 'NO'} "
            f"| {r['load'][0][0]:.2f} → {r['load'][1][0]:.2f} | {r['quiet']['other_cores']} |")
    worst = max(r["times"]["api"]["p95"] for r in results)
    lines += ["", f"Worst API p95: {worst:.1f} ms (target {TARGET_P95_MS:.0f} ms); every page equal to the old "
              f"statement's: {all(r['equal'] for r in results)}.", "", "## Plans (EXPLAIN (ANALYZE, BUFFERS))", ""]
    for r in results:
        lines += [f"### {r['label']}", "", "```", r["plan"], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--db", default="cp_bench_search")
    parser.add_argument("--partners", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-wait", type=float, default=120, help="seconds to wait for a quiet machine")
    parser.add_argument("--retries", type=int, default=1)
    args = parser.parse_args(argv)
    search.configure_environment(args)
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    results = measure(args)
    harness.write_report(harness.RESULTS_DIR / "search-mix.md", render(args, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
