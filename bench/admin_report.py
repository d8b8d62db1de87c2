"""The report of bench/admin.py: per page and user, small and large medians and p95, queries, unfiltered COUNTs and
the verdict against the targets; then the SQL time, the loads, the query plans and every query, as Markdown."""

from __future__ import annotations

import argparse
import datetime as dt
import os

TARGET_RATIO, TARGET_QUERIES = 1.5, 8
TRIGRAM_INDEXES = ("partner_handle_trgm_idx", "partner_display_name_trgm_idx")


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
