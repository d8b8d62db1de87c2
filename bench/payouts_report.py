"""The report of bench/payouts.py: the results table, CPU and parallelism tables, per-size details, the project's
statements, the loads and the plans, as Markdown."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics

from bench.data.pooled import DAYS, MONTH

TARGET_RATIO, TARGET_RSS_MB = 1.5, 300
SCREENING_TARGET = 0.15


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def describe(sql: str, width: int = 150) -> str:
    text = sql.replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def render_report(args: argparse.Namespace, loads: dict, measured: dict) -> str:
    lines = ["# Payout benchmark: pooled-fund month, project run vs one hand-written statement", "",
             f"Generated {dt.datetime.now():%Y-%m-%d %H:%M} by `bench/payouts.py` (month {MONTH:%Y-%m}, {DAYS} "
             f"days of metrics per partner, {args.runs} timed runs of each path, medians).", "",
             "| size (partners) | project run s | hand-written SQL s | ratio | peak RSS MB | amounts equal? "
             "| sum == budget? |",
             "|---:|---:|---:|---:|---:|---|---|"]
    for result in measured.values():
        reps = result["runs"]
        project, handwritten = median([r["project_s"] for r in reps]), median([r["handwritten_s"] for r in reps])
        equal = all(r["handwritten_check"]["amounts_equal"] for r in reps)
        sums = all(r["project_check"]["sum_equals_budget"] and r["handwritten_check"]["sum_equals_budget"]
                   for r in reps)
        lines.append(f"| {result['partners']:,} | {project:,.2f} | {handwritten:,.2f} | {project / handwritten:.2f} "
                     f"| {result['rss_after']['VmHWM']:,.0f} | {'yes' if equal else 'NO'} | "
                     f"{'yes' if sums else 'NO'} |")
    lines += ["", "Screening and what-if (issue 14): screening is timed inside the project's run (`run_screen`), so "
              "the month without it is the run minus that time; the what-if is `payout_run_what_if` on the computed "
              "run with the cap halved (one changed term), a page of 200 rows, rolled back.", "",
              "| size (partners) | month without screening s | screening s | screening adds | what-if s "
              "| what-if / month |", "|---:|---:|---:|---:|---:|---:|"]
    for result in measured.values():
        reps = [r for r in result["runs"] if "screening_s" in r]
        if not reps:
            continue
        screening = median([r["screening_s"] for r in reps])
        month = median([r["project_s"] - r["screening_s"] for r in reps])
        what_if = median([r["what_if_s"] for r in reps])
        project = median([r["project_s"] for r in reps])
        lines.append(f"| {result['partners']:,} | {month:,.2f} | {screening:,.2f} | {screening / month:+.1%} "
                     f"| {what_if:,.2f} | {what_if / project:.2f} |")
    lines += ["", f"Targets (issue 14): screening adds at most {SCREENING_TARGET:.0%} to computing the month; a "
              "what-if of one changed cap takes at most the time of computing the month (with its screening).", ""]
    lines += ["", "The same timings as the database backend's CPU seconds (less sensitive to other work on the "
              "machine, blind to I/O waits), and how busy the machine was meanwhile (cores of 2; each path is one "
              "backend):",
              "", "| size (partners) | project backend CPU s | hand-written backend CPU s | CPU ratio "
              "| machine busy cores, project | machine busy cores, hand-written |", "|---:|---:|---:|---:|---:|---:|"]
    for result in measured.values():
        reps = result["runs"]

        def cpu(rep: dict, path: str) -> float:
            return rep[f"cpu_{path}"]["backend_cores"] * rep[f"cpu_{path}"]["wall"]

        project, handwritten = median([cpu(r, "project") for r in reps]), median([cpu(r, "handwritten") for r in reps])
        busy_project = median([r["cpu_project"]["busy_cores"] for r in reps])
        busy_handwritten = median([r["cpu_handwritten"]["busy_cores"] for r in reps])
        lines.append(f"| {result['partners']:,} | {project:,.2f} | {handwritten:,.2f} | {project / handwritten:.2f} "
                     f"| {busy_project:.2f} | {busy_handwritten:.2f} |")
    lines += ["", "Would batches of partners (Celery tasks, or parallel sessions) help? The split itself is global "
              "(the total weight, the cap's cut and the largest remainders need every member), so only the per-partner "
              "work could be spread: chiefly the members' aggregation over the daily metrics. Here it is alone, as "
              "a plain SELECT, serial and with the server's parallel workers (2 cores; INSERT ... SELECT never runs "
              "in parallel on PostgreSQL 15), beside the project's longest statement:", "",
              "| size (partners) | aggregation, serial s | aggregation, parallel s | speed-up "
              "| project's longest statement s | its share of the run |", "|---:|---:|---:|---:|---:|---:|"]
    for result in measured.values():
        aggregate = result.get("aggregate", {})
        serial, parallel = median(aggregate.get("workers_0", [])), median(aggregate.get("workers_default", []))
        longest = longest_statement(result["runs"])
        project = median([r["project_s"] for r in result["runs"]])
        lines.append(f"| {result['partners']:,} | {serial:,.2f} | {parallel:,.2f} | {serial / parallel:.2f} "
                     f"| {longest:,.2f} | {longest / project:.0%} |")
    lines += ["", f"Targets: ratio ≤ {TARGET_RATIO}; peak RSS of the Python process < {TARGET_RSS_MB} MB at every "
              "size. \"Amounts equal\": every partner's gross amount and capped flag, project line vs hand-written "
              "row (FULL JOIN on partner_id). \"Sum == budget\": both paths, to the cent.", ""]
    for label, result in measured.items():
        reps = result["runs"]
        project_times = [r["project_s"] for r in reps]
        handwritten_times = [r["handwritten_s"] for r in reps]
        check = reps[0]["project_check"]
        statements = len(reps[0]["statements"])
        lines += [f"## {label}: {result['partners']:,} partners", "",
                  f"- project runs (s): {', '.join(f'{t:.2f}' for t in project_times)}; hand-written statement "
                  f"(s): {', '.join(f'{t:.2f}' for t in handwritten_times)}",
                  f"- budget {result['budget']:,} cents, cap {result['cap']:,} cents; {check['lines']:,} lines, "
                  f"{check['capped']:,} capped, {check['rounding_cents']:,} cents placed "
                  f"by largest remainder; max line {check['max_gross']:,}; status {check['status']}; {statements} SQL "
                  "statements in the project's run",
                  f"- hand-written check (run 1): {json.dumps(reps[0]['handwritten_check'])}",
                  f"- RSS MB: after django.setup() {result['rss_start']['VmRSS']:.0f}, peak after the project runs "
                  f"(VmHWM) {result['rss_after']['VmHWM']:.0f}, ru_maxrss {result['rss_after']['ru_maxrss']:.0f}",
                  f"- server settings: {json.dumps(result['settings'])}",
                  f"- waits for a quiet machine before each timing: "
                  f"{json.dumps([[r.get('quiet_project'), r.get('quiet_handwritten')] for r in reps])}",
                  f"- CPU during the timings, [project, hand-written] per run (cores busy on the machine, of which "
                  f"the database backend, this process): "
                  f"{json.dumps([[r.get('cpu_project'), r.get('cpu_handwritten')] for r in reps])}",
                  f"- tables: {json.dumps(result['sizes'])}", ""]
        lines += render_statements(reps)
    for label, load in loads.items():
        lines += [f"## Load ({label})", "", "| step | s | rows |", "|---|---:|---:|"]
        lines += [f"| {s['step']} | {s['seconds']:,.1f} | {s['rows'] if s['rows'] is not None else ''} |"
                  for s in load["steps"]]
        if load.get("reused_from"):
            lines.append(f"\n(reused, loaded at {load['reused_from']})")
        lines.append("")
    for label, result in measured.items():
        plans = result["plans"]
        lines += [f"## Plans ({label}), auto_explain ANALYZE BUFFERS, statements ≥ 200 ms", "",
                  f"Project run under auto_explain: {plans['project_s_under_explain'] or 0:.2f} s.", ""]
        for title, texts in (("project", plans["project"]), ("hand-written", plans["handwritten"])):
            for text in texts:
                lines += [f"### {title}", "", "```", text.strip(), "```", ""]
    return "\n".join(lines) + "\n"


def longest_statement(reps: list[dict]) -> float:
    """Median seconds of the statement that takes longest (same position in every run)."""
    count = min(len(r["statements"]) for r in reps)
    return max(median([r["statements"][p]["seconds"] for r in reps]) for p in range(count)) if count else 0.0


def render_statements(reps: list[dict]) -> list[str]:
    """The project's statements, median seconds per position over the runs (the runs issue the same list)."""
    count = min(len(r["statements"]) for r in reps)
    total = median([r["project_s"] for r in reps])
    rows, small, small_count = [], 0.0, 0
    for position in range(count):
        seconds = median([r["statements"][position]["seconds"] for r in reps])
        statement = reps[0]["statements"][position]
        if seconds < 0.05:
            small, small_count = small + seconds, small_count + 1
            continue
        rows.append(f"| {position + 1} | {seconds:,.2f} | {seconds / total:.0%} | {statement['rows']} "
                    f"| `{describe(statement['sql'])}` |")
    accounted = sum(median([r["statements"][p]["seconds"] for r in reps]) for p in range(count))
    return ["Project statements (median s per statement over the runs):", "",
            "| # | s | share | rows | statement |", "|---:|---:|---:|---:|---|", *rows,
            f"| | {small:,.2f} | {small / total:.0%} | | {small_count} other statements under 50 ms each |",
            f"| | {total - accounted:,.2f} | {(total - accounted) / total:.0%} | | outside any statement: Python "
            "and the COMMIT (execute_wrapper does not see it) |", ""]
