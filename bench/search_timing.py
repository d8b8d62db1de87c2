"""Timing on a shared machine, for bench/search.py: wait for a quiet machine before a block, measure the CPU other
processes used during it and redo it when they were busy; the API over HTTP; where an API request's time goes.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import harness
from bench.harness import ROOT, log

# Before timing: 3 samples of 2 s in a row without a long query elsewhere and with the CPUs at most half busy.
QUIET_QUERY_SECONDS, QUIET_CPU_BUSY, QUIET_SAMPLES = 2, 0.50, 3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
OTHER_LOAD_LIMIT = 0.20  # cores used by other processes or stolen by the hypervisor, on average during a block,
# above which the block is redone


def wait_for_quiet(admin, max_wait: float) -> dict:
    """Wait until, for QUIET_SAMPLES samples of 2 s in a row, no other backend has had an active query for 2 s
    and the CPUs were mostly idle. Gives up after max_wait seconds (the report says so)."""
    started, quiet, last_note = time.monotonic(), 0, -1.0
    while True:
        others = admin.execute(harness.OTHER_ACTIVE_QUERIES, [QUIET_QUERY_SECONDS]).fetchall()
        busy = harness.cpu_busy(2)
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

        from partnerships.marketplace import params, search
        from partnerships.marketplace.api.pagination import CreatorKeysetPagination

        self.targets = [
            (BaseHandler, "get_response", "Django handler: middleware + URL + view"),
            (drf_views.APIView, "dispatch", "  DRF dispatch"),
            (drf_views.APIView, "perform_authentication", "    authentication (token query)"),
            (drf_views.APIView, "check_permissions", "    permissions"),
            (drf_views.APIView, "check_throttles", "    throttle"),
            (view_class, "list", "    the view's list: parameters, page, response"),
            (params, "search_from_parameters", "      parameters (the search form)"),
            (CreatorKeysetPagination, "paginate_creators", "      paginate_creators (cursor, page, links)"),
            (search, "creator_page", "        creator_page (SQL built and run, rows)"),
            (search, "creator_rows", "      creator_rows (response rows)"),
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


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values: list[float]) -> dict:
    return {"p50": percentile(values, 0.50), "p95": percentile(values, 0.95), "min": min(values),
            "max": max(values), "n": len(values)}
