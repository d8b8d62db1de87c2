"""Readiness under abuse (issue 15): many anonymous clients hammer GET /health/ready while a brand user's login
page is timed; its p95 must stay within 2× its idle p95.

Run by hand from the project root, against a local PostgreSQL and Redis (not part of the tests, never run in CI):

    .venv/bin/python bench/health_load.py                 # 50 clients for 30 s, 3 gunicorn workers

Other options: --server (default postgres://postgres@127.0.0.1:5432), --db (default cp_bench_health), --redis
(default redis://127.0.0.1:6379/13: the broker readiness checks and the shared cache), --clients (50), --seconds
(30), --samples (timed login pages, idle and loaded, default 200), --workers (gunicorn workers, default 3 as in
config/gunicorn.py), --path (what the clients hammer, default /health/ready; /health/live shows what the
cheapest possible answer costs under the same load), --clients-in (process, the default: the clients in a load
process of their own; thread: as threads of the timing process, sharing its interpreter lock, as the first version
did), --clients-nice N (a VARIANT, reported as such: the load process at a lower CPU priority, as clients on other
machines would not take this one's CPU; the target is judged at the same priority), --proxy nginx (nginx in front
of gunicorn with the project's config/nginx.conf, rendered by config.nginx: every request — the timed pages and the
clients — goes through nginx's port; the default, none, talks to gunicorn directly), --nginx-workers (nginx's
worker_processes, default the config's: 1). GUNICORN_CMD_ARGS in the environment overrides config/gunicorn.py
for a trial (e.g. "--worker-class gthread --threads 4").

What it does: creates the database and migrates it, collects static files into a temporary folder, starts
gunicorn with the project's config under production settings (DEBUG off, a broker and a shared cache
configured: with a broker, a readiness check used to hold a worker 1.6-2.1 s), times GET /brands/login/ idle,
then again while --clients threads loop GET /health/ready as anonymous callers, and reports both p50/p95, their
ratio, and what the readiness callers got (answers by status, requests per second), with the login page's time
inside the worker (gunicorn's access log), the readiness checks that failed and the workers restarted (its error
log) and the load average, and the CPU seconds each party used while the load ran (the load process, gunicorn,
nginx: /proc). The load generator runs on the same machine and competes for the same cores, as an
attacker on a shared host would.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from config import nginx  # noqa: E402 - standard library only: no settings needed

REPORT_PATH = harness.RESULTS_DIR / "health_load.md"
TARGET_RATIO = 2.0


def parse_args(argv: list[str] | None):
    parser = harness.argument_parser(__doc__.split("\n")[0])
    parser.add_argument("--db", default="cp_bench_health")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--path", default="/health/ready",
                        help="what the clients hammer (e.g. /health/live, to compare with the cheapest answer)")
    parser.add_argument("--clients-in", choices=("process", "thread"), default="process",
                        help="process: the clients run in a load process of their own at the same priority (as "
                             "other programs on the host); thread: as threads of the timing process, sharing its "
                             "interpreter lock, so the timed request also waits for the clients' Python")
    parser.add_argument("--clients-nice", type=int, default=0,
                        help="niceness of the load process (a variant: clients with less CPU priority than the "
                             "server, as clients on other machines would have); 0 = the same priority")
    parser.add_argument("--proxy", choices=("none", "nginx"), default="none",
                        help="nginx: config/nginx.conf in front of gunicorn, and all traffic through it")
    parser.add_argument("--nginx-workers", help="nginx's worker_processes with --proxy nginx (default: the "
                                                 "config's, 1)")
    parser.add_argument("--hammer", metavar="URL", help=argparse.SUPPRESS)  # the load process itself
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, timeout: float = 30.0, agent: str = "bench") -> tuple[int, float]:
    """One GET: its status (0 when the connection failed) and its wall time in milliseconds."""
    started = time.perf_counter()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": agent})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0
    return status, (time.perf_counter() - started) * 1000


def time_login(base: str, samples: int, phase: str = "warm-up") -> dict:
    timings, statuses = [], collections.Counter()
    for _ in range(samples):
        status, ms = get(f"{base}/brands/login/", agent=f"bench-login-{phase}")
        statuses[status] += 1
        timings.append(ms)
    return {"p50": harness.nearest_rank(timings, 50), "p95": harness.nearest_rank(timings, 95),
            "statuses": dict(statuses)}


def hammer(base: str, path: str, clients: int, stop: threading.Event,
           results: collections.Counter) -> list[threading.Thread]:
    lock = threading.Lock()

    def loop() -> None:
        while not stop.is_set():
            status, _ = get(f"{base}{path}", timeout=10)
            with lock:
                results[status] += 1

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def hammer_process(args) -> int:
    """The load process (--hammer URL): --clients threads loop GET URL for --seconds and at least until its
    standard input closes (the timed pages are done), then write the answers by status to --out as JSON."""
    stop, results = threading.Event(), collections.Counter()
    started = time.monotonic()
    threads = hammer(args.hammer, "", args.clients, stop, results)
    sys.stdin.read()
    time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    times = os.times()
    Path(args.out).write_text(json.dumps({"answers": {str(status): count for status, count in results.items()},
                                          "cpu": times.user + times.system}))
    return 0


class Load:
    """--clients looping on --path, in a load process of their own (default) or as threads of this one."""

    def __init__(self, args, base: str) -> None:
        self.args, self.results = args, collections.Counter()
        self.started = time.perf_counter()
        if args.clients_in == "thread":
            self.stop = threading.Event()
            self.threads = hammer(base, args.path, args.clients, self.stop, self.results)
            return
        self.out = Path(tempfile.mkstemp(prefix="cp-bench-health-load-", suffix=".json")[1])
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--hammer", f"{base}{args.path}", "--clients", str(args.clients),
             "--seconds", str(args.seconds), "--out", str(self.out)], stdin=subprocess.PIPE,
            preexec_fn=(lambda: os.nice(args.clients_nice)) if args.clients_nice else None)

    def finish(self) -> tuple[dict, float, float | None]:
        """The answers by status, the seconds the load ran and the CPU seconds its process used (None: threads)."""
        if self.args.clients_in == "thread":
            remaining = self.args.seconds - (time.perf_counter() - self.started)
            if remaining > 0:
                time.sleep(remaining)
            self.stop.set()
            for thread in self.threads:
                thread.join(timeout=15)
            return dict(self.results), time.perf_counter() - self.started, None
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(timeout=self.args.seconds + 60)
        written = json.loads(self.out.read_text())
        self.out.unlink(missing_ok=True)
        answers = {int(status): count for status, count in written["answers"].items()}
        return answers, time.perf_counter() - self.started, written["cpu"]


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid], cpu[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
    total, seen, todo = 0.0, set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def start_nginx(args, upstream_port: int) -> tuple[subprocess.Popen, str, Path]:
    """nginx with the project's configuration in front of gunicorn, in a folder of its own: the process, its base
    URL and its access log (probes answered from the cache are not in it)."""
    folder = Path(tempfile.mkdtemp(prefix="cp-bench-health-nginx-"))
    port = free_port()
    config = nginx.write(folder / "nginx.conf", prefix=folder, listen=f"127.0.0.1:{port}",
                         upstream=f"127.0.0.1:{upstream_port}", access_log=str(folder / "access.log"),
                         **({"worker_processes": args.nginx_workers} if args.nginx_workers else {}))
    process = subprocess.Popen(nginx.command(config), stdout=subprocess.DEVNULL,
                               stderr=(folder / "error.log").open("w"))
    return process, f"http://127.0.0.1:{port}", folder / "access.log"


def probes_passed(access_log: Path, path: str) -> int:
    """Requests for ``path`` nginx passed to gunicorn (its access log leaves out answers from the cache)."""
    if not access_log.exists():
        return 0
    return sum(1 for line in access_log.read_text(errors="replace").splitlines()
               if f'"GET {path} ' in line and "upstream=-" not in line)


ACCESS = re.compile(r'"GET /brands/login/ [^"]*" (\d+) \S+ (\d+)ms "bench-login-(idle|loaded)"')


def read_web_log(path: Path) -> dict:
    """From gunicorn's log: the login pages' time inside the worker (access log, whole ms) by phase, readiness
    checks that failed (by check, timeout or refusal), and workers restarted by max_requests."""
    inside: dict[str, list[float]] = {"idle": [], "loaded": []}
    failed: collections.Counter = collections.Counter()
    restarts = 0
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = str(entry.get("message", ""))
        if entry.get("logger") == "gunicorn.access":
            match = ACCESS.search(message)
            if match:
                inside[match.group(3)].append(float(match.group(2)))
        elif entry.get("logger") == "config.health" and "check" in entry:
            failed[f"{entry['check']} ({'timeout' if entry.get('timeout') else 'refused'})"] += 1
        elif message.startswith("Autorestarting worker"):
            restarts += 1
    return {"inside": {phase: {"p50": harness.nearest_rank(ms, 50), "p95": harness.nearest_rank(ms, 95)}
                       for phase, ms in inside.items() if ms},
            "failed_checks": dict(failed), "restarts": restarts}


def wait_until_up(base: str, web: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise RuntimeError("gunicorn exited before answering; run it by hand to see why")
        if get(f"{base}/health/live", timeout=2)[0] == 200:
            return
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer {base}/health/live within {seconds:.0f} s")


def wait_until_ready(base: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if get(f"{base}/health/ready", timeout=5)[0] == 200:
            return
        time.sleep(1)
    raise RuntimeError(f"{base}/health/ready did not answer 200 within {seconds:.0f} s (is Redis running?)")


def run_benchmark(args) -> dict:
    static = Path(tempfile.mkdtemp(prefix="cp-bench-health-static-"))
    env = harness.django_environment(
        f"{args.server}/{args.db}", secrets.token_urlsafe(50), ALLOWED_HOSTS="127.0.0.1", STATIC_ROOT=str(static),
        CELERY_BROKER_URL=args.redis, CACHE_URL=args.redis, WEB_CONCURRENCY=str(args.workers),
        SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false")  # no TLS here
    harness.log(f"{args.db}: dropping, creating and migrating the database")
    with harness.admin_connection(args.server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    harness.run_manage(env, "migrate", "--noinput", "-v", "0")
    harness.run_manage(env, "collectstatic", "--noinput", "-v", "0")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proxy: subprocess.Popen | None = None
    web_log = Path(tempfile.mkstemp(prefix="cp-bench-health-web-", suffix=".log")[1])
    with web_log.open("w") as log_file:
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py",
                                "--bind", f"127.0.0.1:{port}"], cwd=harness.ROOT, env=env,
                               stdout=log_file, stderr=subprocess.STDOUT)
    # A worker, so that readiness is honestly 200 and runs every check (database, broker, worker ping).
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
                               "--concurrency=1", "--without-gossip", "--without-mingle"], cwd=harness.ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy_log: Path | None = None
    try:
        if args.proxy == "nginx":
            proxy, base, proxy_log = start_nginx(args, port)
        wait_until_up(base, web)
        wait_until_ready(base)
        time_login(base, 10)  # warm-up: every worker has loaded the templates
        load_before = os.getloadavg()
        harness.log(f"timing {args.samples} login pages, idle (load average {load_before[0]:.2f})")
        idle = time_login(base, args.samples, "idle")
        harness.log(f"{args.clients} clients on {args.path} ({args.clients_in}, nice {args.clients_nice}); timing "
                    f"{args.samples} login pages meanwhile")
        parties = {"gunicorn": web.pid, **({"nginx": proxy.pid} if proxy else {})}
        cpu_before = {name: tree_cpu_seconds(pid) for name, pid in parties.items()}
        probes_before = probes_passed(proxy_log, args.path) if proxy_log else 0
        load = Load(args, base)
        time.sleep(2)  # the load is on before the first timed page
        loaded = time_login(base, args.samples, "loaded")
        load_during = os.getloadavg()
        ready, elapsed, load_cpu = load.finish()
        cpu = {name: tree_cpu_seconds(pid) - cpu_before[name] for name, pid in parties.items()}
        cpu["load process"] = load_cpu
        time.sleep(1.5)  # nginx flushes its access log every second
        passed = probes_passed(proxy_log, args.path) - probes_before if proxy_log else None
    finally:
        for process in (web, worker, *([proxy] if proxy else [])):
            process.terminate()
            process.wait(timeout=30)
    with harness.admin_connection(args.server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    web_readings = read_web_log(web_log)
    web_log.unlink(missing_ok=True)
    if proxy_log is not None:
        shutil.rmtree(proxy_log.parent, ignore_errors=True)  # nginx's folder: configuration, logs, cache
    return {"idle": idle, "loaded": loaded, "ready": ready, "ready_per_second": sum(ready.values()) / elapsed,
            "seconds": elapsed, "load_before": load_before, "load_during": load_during, "cpu": cpu,
            "probes_passed": passed, **web_readings}


def render_report(args, measured: dict) -> str:
    idle, loaded = measured["idle"], measured["loaded"]
    ratio = loaded["p95"] / idle["p95"]
    verdict = "yes" if ratio <= TARGET_RATIO else "NO"
    inside = measured["inside"]
    clients = {"process": "in a load process of their own", "thread": "as threads of the timing process"}
    priority = (f"at niceness {args.clients_nice} (a VARIANT: less CPU priority than the server)"
                if args.clients_nice else "at the same CPU priority as the server")
    workers = args.nginx_workers or nginx.DEFAULTS["worker_processes"]
    front = (f"nginx with config/nginx.conf (worker_processes {workers}; every request through it) in "
             "front of " if args.proxy == "nginx" else "")
    cpu = measured["cpu"]
    spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items() if seconds is not None)
    passed = measured["probes_passed"]
    return "\n".join([
        f"# Readiness under load: the brand login page while clients hammer {args.path}",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')} on commit {harness.git('rev-parse', '--short', 'HEAD').strip()}: "
        f"{front}gunicorn with config/gunicorn.py, {args.workers} workers, production settings with a broker and a "
        f"shared cache; {args.clients} anonymous clients looping GET {args.path} for {measured['seconds']:.0f} s, "
        f"{clients[args.clients_in]}, {priority}; {args.samples} GET /brands/login/ timed one after the other, "
        "idle and under the load. Load generator on the same 2-core machine. Load average (1 min) before: "
        f"{measured['load_before'][0]:.2f}, at the end of the timed pages: {measured['load_during'][0]:.2f} "
        "(the machine is shared: other work may run meanwhile).",
        "",
        "| brand login page | p50 ms | p95 ms | answers | inside the worker p50 / p95 ms |",
        "|---|---:|---:|---|---|",
        *(f"| {label} | {phase['p50']:.1f} | {phase['p95']:.1f} | {phase['statuses']} | "
          f"{_inside(inside.get(key))} |"
          for label, key, phase in [("idle", "idle", idle),
                                    (f"{args.clients} clients on {args.path}", "loaded", loaded)]),
        "",
        f"p95 under load ÷ idle p95: **{ratio:.2f}×** (target ≤ {TARGET_RATIO:.0f}×): {verdict}.",
        f"{args.path} answered {measured['ready_per_second']:.0f} requests/s; by status: {measured['ready']}.",
        f"Readiness checks that failed (gunicorn's log): {measured['failed_checks'] or 'none'}; workers restarted "
        f"by max_requests: {measured['restarts']}.",
        *([f"Probes nginx passed to gunicorn (the rest answered from its cache): {passed}."]
          if passed is not None else []),
        f"CPU used while the load ran ({measured['seconds']:.0f} s on 2 cores, /proc): {spent}.",
        "",
    ])


def _inside(reading: dict | None) -> str:
    return "–" if reading is None else f"{reading['p50']:.0f} / {reading['p95']:.0f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.hammer:
        return hammer_process(args)
    measured = run_benchmark(args)
    report = REPORT_PATH if args.proxy == "none" else REPORT_PATH.with_name(f"health_load_{args.proxy}.md")
    harness.write_report(report, render_report(args, measured))
    return 0 if measured["loaded"]["p95"] <= TARGET_RATIO * measured["idle"]["p95"] else 1


if __name__ == "__main__":
    sys.exit(main())
