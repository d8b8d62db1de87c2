"""Readiness under abuse (issue 15): many anonymous clients hammer GET /health/ready while a brand user's login
page is timed; its p95 must stay within 2× its idle p95.

Run by hand from the project root, against a local PostgreSQL and Redis (not part of the tests, never run in CI):

    .venv/bin/python bench/health_load.py                 # 50 clients for 30 s, 3 gunicorn workers

Other options: --server (default postgres://postgres@127.0.0.1:5432), --db (default cp_bench_health), --redis
(default redis://127.0.0.1:6379/13: the broker readiness checks and the shared cache), --clients (50), --seconds
(30), --samples (timed login pages, idle and loaded, default 200), --workers (gunicorn workers, default 3 as in
config/gunicorn.py), --path (what the clients hammer, default /health/ready; /health/live shows what the
cheapest possible answer costs under the same load).

What it does: creates the database and migrates it, collects static files into a temporary folder, starts
gunicorn with the project's config under production settings (DEBUG off, a broker and a shared cache
configured: with a broker, a readiness check used to hold a worker 1.6-2.1 s), times GET /brands/login/ idle,
then again while --clients threads loop GET /health/ready as anonymous callers, and reports both p50/p95, their
ratio, and what the readiness callers got (answers by status, requests per second). The load generator runs
on the same machine and competes for the same cores, as an attacker on a shared host would.
"""

from __future__ import annotations

import collections
import secrets
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
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, timeout: float = 30.0) -> tuple[int, float]:
    """One GET: its status (0 when the connection failed) and its wall time in milliseconds."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0
    return status, (time.perf_counter() - started) * 1000


def time_login(base: str, samples: int) -> dict:
    timings, statuses = [], collections.Counter()
    for _ in range(samples):
        status, ms = get(f"{base}/brands/login/")
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
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py",
                            "--bind", f"127.0.0.1:{port}"], cwd=harness.ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A worker, so that readiness is honestly 200 and runs every check (database, broker, worker ping).
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
                               "--concurrency=1", "--without-gossip", "--without-mingle"], cwd=harness.ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(base, web)
        wait_until_ready(base)
        time_login(base, 10)  # warm-up: every worker has loaded the templates
        harness.log(f"timing {args.samples} login pages, idle")
        idle = time_login(base, args.samples)
        harness.log(f"{args.clients} clients on {args.path}; timing {args.samples} login pages meanwhile")
        stop, ready = threading.Event(), collections.Counter()
        started = time.perf_counter()
        threads = hammer(base, args.path, args.clients, stop, ready)
        time.sleep(2)  # the load is on before the first timed page
        loaded = time_login(base, args.samples)
        remaining = args.seconds - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        elapsed = time.perf_counter() - started
    finally:
        for process in (web, worker):
            process.terminate()
            process.wait(timeout=30)
    with harness.admin_connection(args.server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    return {"idle": idle, "loaded": loaded, "ready": dict(ready), "ready_per_second": sum(ready.values()) / elapsed,
            "seconds": elapsed}


def render_report(args, measured: dict) -> str:
    idle, loaded = measured["idle"], measured["loaded"]
    ratio = loaded["p95"] / idle["p95"]
    verdict = "yes" if ratio <= TARGET_RATIO else "NO"
    return "\n".join([
        f"# Readiness under load: the brand login page while clients hammer {args.path}",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')} on commit {harness.git('rev-parse', '--short', 'HEAD').strip()}: "
        f"gunicorn with config/gunicorn.py, {args.workers} workers, production settings with a broker and a "
        f"shared cache; {args.clients} anonymous clients looping GET {args.path} for {measured['seconds']:.0f} s; "
        f"{args.samples} GET /brands/login/ timed one after the other, idle and under the load. Load generator on "
        "the same machine.",
        "",
        "| brand login page | p50 ms | p95 ms | answers |",
        "|---|---:|---:|---|",
        f"| idle | {idle['p50']:.1f} | {idle['p95']:.1f} | {idle['statuses']} |",
        f"| {args.clients} clients on {args.path} | {loaded['p50']:.1f} | {loaded['p95']:.1f} | "
        f"{loaded['statuses']} |",
        "",
        f"p95 under load ÷ idle p95: **{ratio:.2f}×** (target ≤ {TARGET_RATIO:.0f}×): {verdict}.",
        f"{args.path} answered {measured['ready_per_second']:.0f} requests/s; by status: {measured['ready']}.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    measured = run_benchmark(args)
    harness.write_report(REPORT_PATH, render_report(args, measured))
    return 0 if measured["loaded"]["p95"] <= TARGET_RATIO * measured["idle"]["p95"] else 1


if __name__ == "__main__":
    sys.exit(main())
