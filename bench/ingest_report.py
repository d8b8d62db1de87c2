"""The report of bench/ingest.py: the three load paths, the phases, memory at two sizes and the admin import, as
Markdown; and the shape of the metrics file every path loads."""

from __future__ import annotations

import datetime as dt
import statistics

DAY = dt.date(2026, 11, 1)
HEADER = ["handle", "date", "views", "qualified_views", "likes", "comments", "shares", "followers", "posts"]
COUNTS = HEADER[2:]
TARGET_RATIO, TARGET_ADMIN_SPEEDUP = 0.7, 20


def render(args, results, again, small_run, admin) -> str:
    median = lambda runs, key="seconds": statistics.median(run[key] for run in runs)  # noqa: E731
    rows = args.rows
    project, baseline, limit = median(results["project"]), median(results["baseline"]), median(results["limit"])
    plain = median(results["plain"]) if results.get("plain") else baseline
    ratio = plain / project
    phases = {name: statistics.median(run["phases"][name] for run in results["project"])
              for name in results["project"][0]["phases"]}
    peak_big = max(run["peak_rss_mb"] for run in results["project"])
    quiet = all(run["quiet"]["quiet"] for runs in results.values() for run in runs)
    speedup = admin["default"] / admin["project"]
    lines = [
        f"# Ingestion benchmark ({dt.date.today()}, {rows:,} rows, median of {args.runs} runs)",
        "",
        "| path | seconds | rows/s | vs baseline |",
        "|---|---:|---:|---:|",
        f"| project: `daily_metrics_ingest` (read, validate, COPY to staging, checks, merge) | {project:.2f} | "
        f"{rows / project:,.0f} | **{ratio:.2f}×** (target ≥ {TARGET_RATIO}) |",
        f"| baseline: COPY file → unlogged staging, one INSERT … ON CONFLICT into the unpartitioned table (as before "
        f"migration 0021) | {plain:.2f} | {rows / plain:,.0f} | 1.00× |",
        f"| the same statement into the project's table (partitioned) | {baseline:.2f} | {rows / baseline:,.0f} "
        f"| {plain / baseline:.2f}× (project: {baseline / project:.2f}×) |",
        f"| limit: bare COPY into an unindexed table | {limit:.2f} | {rows / limit:,.0f} | {plain / limit:.2f}× |",
        "",
        f"Project phases (median): read + validate + COPY {phases.get('read', 0):.2f} s, set-based checks "
        f"{phases.get('check', 0):.2f} s, merge {phases.get('merge', 0):.2f} s. Baseline: COPY "
        f"{median(results['baseline'], 'copy'):.2f} s, merge {median(results['baseline'], 'merge'):.2f} s.",
        "Statistics refresh after the load (all partners, set-based, timed apart): "
        + (f"{statistics.median(run['statistics_seconds'] for run in results['project']):.2f} s."
         if all("statistics_seconds" in run for run in results["project"]) else "not run (--no-full-refresh)."),
        f"Re-ingesting the same file: {again['seconds']:.2f} s, {again['loaded']:,} rows changed "
        f"(of {again['processed']:,}).",
        "",
        "| memory (worker process) | rows | peak RSS | RSS before the load |",
        "|---|---:|---:|---:|",
        f"| project, small file | {args.small_rows:,} | {small_run['peak_rss_mb']:.0f} MB | "
        f"{small_run['rss_before_mb']:.0f} MB |",
        f"| project, full file | {rows:,} | {peak_big:.0f} MB | {results['project'][0]['rss_before_mb']:.0f} MB |",
        "",
        f"| admin import, {admin['rows']:,} new rows (upload parsed, preview, confirm) | seconds | rows/s | speed-up |",
        "|---|---:|---:|---:|",
        f"| default resource (`modelresource_factory(DailyMetric)`, partner ids) | {admin['default']:.2f} | "
        f"{admin['rows'] / admin['default']:,.0f} | 1× |",
        f"| project `DailyMetricResource` (handles, bulk) | {admin['project']:.2f} | "
        f"{admin['rows'] / admin['project']:,.0f} | **{speedup:.1f}×** (target ≥ {TARGET_ADMIN_SPEEDUP}) |",
        f"| project, through the admin views (upload, preview page, confirm) | {admin['project_views']:.2f} | "
        f"{admin['rows'] / admin['project_views']:,.0f} | {admin['default'] / admin['project_views']:.1f}× |",
        "",
        ("Every timing started on a quiet machine." if quiet else
         "Some timings started while the machine was busy (see the raw measurements: quiet=false)."),
    ]
    return "\n".join(lines)
