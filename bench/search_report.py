"""The report of bench/search.py: per query, the API beside raw SQL and the plain baseline against the targets; the
candidate indexes, HTTP, where an API request's time goes, details, plans and the load, as Markdown."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re

from bench.search_measure import PAGE_SIZE, is_count, is_full_table_count

TARGET_OVERHEAD_MS = 15.0


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
