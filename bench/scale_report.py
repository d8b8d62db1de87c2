"""The report of bench/scale.py: the timed runs with their checks, CPU, peak RSS and load averages, the longest
statements, the table sizes and the load's steps with their rates, as Markdown."""

from __future__ import annotations

import argparse
import datetime as dt

from bench import harness
from bench.data.pooled import MONTH

LOAD_NICE = 15  # the load's nice value (bench/scale.py)


def render_report(args: argparse.Namespace, load: dict, measured: dict) -> str:
    data, reps = measured["data"], measured["runs"]
    lines = [f"# Scale benchmark: a pooled-fund month at {args.partners:,} partners from monthly rollups", "",
             f"Generated {dt.datetime.now():%Y-%m-%d %H:%M} by `bench/scale.py` (month {MONTH:%Y-%m}, database "
             f"`{args.db}`, commit {harness.git('rev-parse', '--short', 'HEAD').strip()}). The load ran at nice "
             f"{load.get('nice', LOAD_NICE)} (loader and its backend); the timed computation at normal priority "
             f"(worker nice {measured['nice']['worker']}, backend nice {measured['nice']['backend']}). 2 shared cores.",
             "", f"Data: {data['rollups']:,} rollup rows ({data['silent']:,} silent, {data['members']:,} with enough "
             f"qualified views), {data['daily_rows']:,} daily rows, {data['suspended']:,} members suspended inside the "
             f"month, {data['spike_candidates']:,} spike candidates (month peak at the floor or above).", "",
             "| run | wall s | screening s | backend CPU s | worker CPU s | peak RSS MB | load before | load during "
             "(max) | load after | lines | sum == budget | max ≤ cap | capped | suspended members' lines |",
             "|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---|---|---:|---:|"]
    for number, rep in enumerate(reps, 1):
        check = rep["check"]
        during = max(rep["load_samples"], default=rep["load_after"][0])
        lines.append(
            f"| {number} | {rep['wall']:,.1f} | {rep['screening_s'] or 0:,.1f} | {rep['backend_cpu']:,.1f} "
            f"| {rep['worker_cpu']:,.1f} | {rep['rss']['VmHWM']:,.0f} | {loads(rep['load_before'])} | {during:.2f} "
            f"| {loads(rep['load_after'])} | {check['lines']:,} | {yes(check['sum_equals_budget'])} "
            f"| {yes(check['within_cap'])} | {check['capped']:,} | {check['suspended_member_lines']:,} |")
    lines += ["", f"Status: {', '.join(rep['check']['status'] for rep in reps)}; budget "
              f"{reps[0]['check']['budget']:,} cents, cap {reps[0]['check']['cap']:,} cents; screening flags "
              f"{[rep['check']['flags'] for rep in reps]}. Worker RSS at start {measured['rss_start']['VmRSS']:,.0f} "
              f"MB, peak (VmHWM) {measured['rss_end']['VmHWM']:,.0f} MB. Server: {measured['settings']}.", "",
              "## Longest statements (last run)", "", "| s | rows | statement |", "|---:|---:|---|"]
    last = reps[-1]
    for statement in last["statements"]:
        text = statement["sql"].replace("|", "\\|")
        lines.append(f"| {statement['seconds']:,.2f} | {statement['rows'] if statement['rows'] is not None else ''} "
                     f"| {text[:220]}{'…' if len(text) > 220 else ''} |")
    lines += ["", f"{last['statement_count']} statements in all.", "", "## Table sizes (after the last run, its "
              "lines still in place)", "", "| table | rows (estimate) | size MB |", "|---|---:|---:|"]
    lines += [f"| {size['table']} | {size['rows']:,} | {size['bytes'] / 2**20:,.0f} |" for size in last["sizes"]]
    lines += ["", "## Load (nice " + str(load.get("nice", LOAD_NICE)) + ")" + (
        f", reused from {load['reused_from']}" if "reused_from" in load else ""), "",
        "| step | rows | s | rows/s |", "|---|---:|---:|---:|"]
    for step in load["steps"]:
        rows = step["rows"] if isinstance(step["rows"], int) else None
        rate = f"{rows / step['seconds']:,.0f}" if rows and rows >= 1_000 and step["seconds"] > 0 else ""
        lines.append(f"| {step['step']} | {'' if rows is None else f'{rows:,}'} | {step['seconds']:,.1f} | {rate} |")
    return "\n".join(lines) + "\n"


def loads(values) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def yes(value: bool) -> str:
    return "yes" if value else "NO"
