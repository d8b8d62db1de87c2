"""Default creator search under concurrent load: GET /api/v1/creators/ through gunicorn (the project's
config/gunicorn.py, its sync workers) with N clients for T seconds, beside the same statement served by a minimal
WSGI app (bench/search_minimal_app.py: psycopg, the API's own statement as it sends it, captured from
marketplace.search.creator_page, JSON out) under the same gunicorn config. Requests per second, p50/p95/p99 and
the load average, for each variant.

Run by hand from the project root, against the database bench/search.py loads (it is loaded if missing):

    .venv/bin/python bench/search_load.py                              # 1,000,000 partners, 32 clients, 30 s
    .venv/bin/python bench/search_load.py --db cp_x --redis redis://127.0.0.1:6379/5 --cache-seconds 0 30

With --mix, bench/search.py's realistic mix instead (deep filters, text search, publishers by engagement, the next
page...): each client goes round the mix's queries, and the minimal app serves the mix's hand-written statements.

Variants: the API with SEARCH_CACHE_SECONDS set to each of --cache-seconds (0: no page cache, every request runs
the search statement), then (unless --no-minimal) the minimal app. Each runs --warmup seconds untimed, then
--seconds timed. The clients are one asyncio loop in this process (a new connection per request, as sync
workers close each one; `Authorization: Token`, `X-Forwarded-Proto: https` as behind the TLS proxy). The throttle
and the page cache count in Redis (--redis, flushed before each variant: use a database of your own), as in
production; the brand's rate is raised so that no request is refused. Every answer but a 200 is counted as an
error and reported.

It prints the table and writes it to bench/results/search-load.md (git-ignored).

Measured (issue 18, 1,000,000 partners, 32 clients, 3 workers; the machine shared with other agents, whose load
moves requests/s by half from one run to the next: the load average is beside each figure, and web CPU per request
is the steadier figure). Requests/s, p95, web + database CPU ms per request, × the minimal app of the same run:

    run 1  main e8d6df6 (load 5.7-6.7)          no cache 87/s 458 ms 5.2+2.5;  cache 82/s 827 ms 5.6+0.4
           lean path, no preload (6.1-6.6)      no cache 81/s 558 ms 5.1+0.0;  cache 89/s 383 ms 5.1+0.0
           lean path + preload (2.4-4.5)        no cache 193/s 404 ms 3.8+0.3 0.81x; cache 182/s 379 ms 3.4+0.0
                                                0.77x; minimal 237/s 253 ms 1.5+0.5
    run 2  main e8d6df6 (2.9-5.1)               no cache 166/s 258 ms 4.3+1.1 0.60x; cache 115/s 399 ms 5.3+0.2
                                                0.41x; minimal 278/s 128 ms 1.4+0.1
           lean path + preload (4.8-6.4)        no cache 111/s 556 ms 3.6+0.7 0.37x; cache 173/s 281 ms 2.6+0.2
                                                0.58x; minimal 297/s 182 ms 1.4+0.2
    run 3  lean path + preload (3.1-7.1)        no cache 160/s 273 ms 3.6+1.3 0.83x; cache 158/s 435 ms 3.1+0.3
                                                0.82x; minimal 193/s 349 ms 1.8+0.3

In process (the WSGI application called directly, 50,000 partners, quiet machine), CPU per request: 2.5 ms
before, 1.7 ms with the lean path, cache off; 2.3 and 1.5 ms cache on. Under gunicorn (its HTTP handling and access
log, and a loaded machine) the web CPU per request is 2.6-3.8 ms with the lean path, 4.3-5.6 ms before."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench import search as search_bench  # noqa: E402

API_PATH = "/api/v1/creators/"
REPORT_PATH = harness.RESULTS_DIR / "search-load.md"


async def _one(port: int, request: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        answer = await reader.read(-1)  # the sync worker closes the connection after the response
        writer.close()
        status = int(answer[9:12]) if answer.startswith(b"HTTP/1.") else 0
    except (OSError, ValueError):
        status = 0
    return status, (time.perf_counter() - started) * 1000


async def _load(port: int, requests: list[bytes], clients: int, warmup: float, seconds: float, mark) -> dict:
    """`clients` loops, each one request at a time, each going round `requests` from its own place in it; answers
    counted between warmup and warmup + seconds, when `mark("begin")` and `mark("end")` are called."""
    loop = asyncio.get_running_loop()
    begin = loop.time() + warmup
    end = begin + seconds
    loop.call_at(begin, mark, "begin")
    loop.call_at(end, mark, "end")
    statuses: dict[int, int] = {}
    times: list[float] = []

    async def client(number: int) -> None:
        while loop.time() < end:
            sent = loop.time()
            status, ms = await _one(port, requests[number % len(requests)])
            number += 1
            if sent >= begin and loop.time() <= end:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    times.append(ms)

    await asyncio.gather(*(client(number) for number in range(clients)))
    return {"statuses": statuses, "times": times}


TICKS = os.sysconf("SC_CLK_TCK")


def _times(pid: int) -> list[int]:
    """utime, stime, cutime, cstime of a process (clock ticks); zeros if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return [0, 0, 0, 0]
    return [int(value) for value in fields[11:15]]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


class CpuMeter:
    """CPU used by the web server (its master, its workers and the workers it has reaped: restarts included) and by
    the database's backends serving it (those alive at each reading), between two readings."""

    def __init__(self, master: int, database) -> None:
        self.master, self.database, self.readings = master, database, {}

    def read(self, name: str) -> None:
        master = _times(self.master)
        web = sum(master) + sum(sum(_times(pid)[:2]) for pid in _children(self.master))
        pids = [row[0] for row in self.database.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        self.readings[name] = (web, {pid: sum(_times(pid)[:2]) for pid in pids})

    def milliseconds(self) -> tuple[float, float]:
        """Web and database CPU between "begin" and "end", in ms."""
        (web0, db0), (web1, db1) = self.readings["begin"], self.readings["end"]
        database = sum(ticks - db0.get(pid, 0) for pid, ticks in db1.items())
        return (web1 - web0) * 1000 / TICKS, database * 1000 / TICKS


def cpu_sample() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def wait_until_answering(port: int, request: bytes, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited before answering; run it by hand to see why")
        status, _ = asyncio.run(_one(port, request))
        if status == 200:
            return
        time.sleep(0.3)
    raise RuntimeError(f"no 200 from 127.0.0.1:{port} within {seconds:.0f} s")


def run_variant(args, label: str, app: str, env: dict, requests: list[bytes], database) -> dict:
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn", app, "--config", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}"]
    if args.max_requests is not None:
        command += ["--max-requests", str(args.max_requests)]
    if args.max_requests_jitter is not None:
        command += ["--max-requests-jitter", str(args.max_requests_jitter)]
    server_log = Path(tempfile.mkstemp(prefix="cp-bench-search-load-", suffix=".log")[1])
    with server_log.open("w") as handle:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        for request in requests:
            wait_until_answering(port, request, server)
        harness.log(f"{label}: {args.clients} clients, {args.warmup:.0f} s warm-up, {args.seconds:.0f} s timed")
        meter = CpuMeter(server.pid, database)
        samples = {}

        def mark(name: str) -> None:
            meter.read(name)
            samples[name] = (cpu_sample(), os.getloadavg())

        measured = asyncio.run(_load(port, requests, args.clients, args.warmup, args.seconds, mark))
    finally:
        server.terminate()
        server.wait(timeout=30)
    (cpu0, load_before), (cpu1, load_after) = samples["begin"], samples["end"]
    web_ms, database_ms = meter.milliseconds()
    restarts = server_log.read_text(errors="replace").count("Autorestarting worker")
    server_log.unlink(missing_ok=True)
    times, statuses = measured["times"], measured["statuses"]
    busy = 1 - (cpu1[1] - cpu0[1]) / max(1, cpu1[0] - cpu0[0])
    result = {"label": label, "rps": len(times) / args.seconds, "ok": len(times),
              "errors": {str(k): v for k, v in statuses.items() if k != 200},
              "p50": harness.nearest_rank(times, 50) if times else None,
              "p95": harness.nearest_rank(times, 95) if times else None,
              "p99": harness.nearest_rank(times, 99) if times else None,
              "load_before": load_before, "load_after": load_after, "cpu_busy": busy, "restarts": restarts,
              "web_cpu_ms": web_ms / max(1, len(times)), "database_cpu_ms": database_ms / max(1, len(times))}
    harness.log(f"  {result['rps']:.0f} requests/s, p95 {result['p95']:.0f} ms, CPU per request: web "
                f"{result['web_cpu_ms']:.1f} ms, database {result['database_cpu_ms']:.1f} ms; errors "
                f"{result['errors']}, load {load_after[0]:.2f}")
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(args) -> dict:
    from django.contrib.auth import get_user_model

    from partnerships.marketplace import services
    from partnerships.models import Brand

    user = get_user_model().objects.get(username="bench-search")
    brand = Brand.objects.get(slug="bench-brand")
    _token, secret = services.api_token_create(user=user, brand_id=brand.pk, name="bench-search-load")
    base = harness.django_environment(
        f"{args.server}/{args.db}", "bench-search-load-not-a-secret", ALLOWED_HOSTS="127.0.0.1",
        BRAND_RATE="100000000/minute", BRAND_WRITE_RATE="100000000/minute", TRUST_X_FORWARDED_PROTO="true",
        CACHE_URL=args.redis, CELERY_BROKER_URL=args.redis, SEARCH_CACHE_SECONDS=None,
        WEB_CONCURRENCY=str(args.workers) if args.workers else None)
    def api_request(path: str) -> bytes:
        return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {secret}\r\n"
                "X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n").encode()

    results = []
    database = harness.connect(f"{args.server}/{args.db}")
    searches = mix_searches(database) if args.mix else [(API_PATH, api_statement())]
    what = "the mix" if args.mix else "default search"
    for cache_seconds in args.cache_seconds:
        env = {**base, "SEARCH_CACHE_SECONDS": str(cache_seconds)}
        label = f"API, {what}, page cache {cache_seconds} s" if cache_seconds else f"API, {what}, no page cache"
        results.append(run_variant(args, label, "config.wsgi:application", env,
                                   [api_request(path) for path, _ in searches], database))
    if args.minimal:
        statements = [(sql, values) for _, (sql, values) in searches]
        env = {**base, "BENCH_DSN": f"{args.server}/{args.db}", "BENCH_MIX": json.dumps(statements, default=str)}
        requests = [f"GET /?{index} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
                    for index in range(len(statements))]
        results.append(run_variant(args, f"minimal WSGI app, {what}, same statements",
                                   "bench.search_minimal_app:application", env, requests, database))
    return {"results": results, "workers": args.workers or int(os.environ.get("WEB_CONCURRENCY", "3"))}


def api_statement() -> tuple[str, list]:
    """The statement the API sends for the default search (marketplace.search.creator_page: the search table, the
    categories in the same statement), captured as sent: the minimal app serves that very statement."""
    from django.db import connection

    from partnerships.marketplace.params import CreatorQuery
    from partnerships.marketplace.search import creator_page

    sent: list[tuple[str, list]] = []

    def keep(execute, sql, params, many, context):
        sent.append((sql, list(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        creator_page(CreatorQuery())
    return sent[-1]


def mix_searches(database) -> list[tuple[str, tuple[str, dict]]]:
    """bench/search.py's mix: per query, the API's path and query string, and bench/search.py's raw statement for
    the same page (the next page of the default search: the cursor the API's first page links to)."""
    from urllib.parse import urlencode

    from partnerships.marketplace.search import DEFAULT_ORDERING, CreatorQuery, search_page
    from partnerships.models import Category

    search_bench.CATEGORY_IDS.update(Category.objects.values_list("slug", "pk"))
    searches = []
    for _label, params in search_bench.MIX:
        if params == search_bench.PAGE2:
            cursor = search_page(CreatorQuery(), DEFAULT_ORDERING, cursor=None, size=50).next_cursor
            first_sql, first_values = search_bench.raw_query({})
            last = database.execute(first_sql, first_values).fetchall()[49]
            searches.append((f"{API_PATH}?{urlencode({'cursor': cursor})}",
                             search_bench.raw_query({}, after=(last[5], last[0]))))
        else:
            assert isinstance(params, dict)  # the one string in MIX is PAGE2
            searches.append((f"{API_PATH}?{urlencode(params, doseq=True)}", search_bench.raw_query(params)))
    return searches


def render_report(args, measured: dict) -> str:
    minimal = next((r for r in measured["results"] if r["label"].startswith("minimal")), None)
    lines = [
        f"# {'The realistic search mix' if args.mix else 'Default creator search'} under load",
        "",
        f"{args.partners:,} partners (database {args.db}); gunicorn with config/gunicorn.py, "
        f"{measured['workers']} sync workers, max_requests "
        f"{'the config’s' if args.max_requests is None else args.max_requests} (jitter "
        f"{'the config’s' if args.max_requests_jitter is None else args.max_requests_jitter}); "
        f"{args.clients} concurrent clients "
        f"(asyncio, this process), {args.seconds:.0f} s timed after {args.warmup:.0f} s warm-up; "
        f"{os.cpu_count()} CPUs; code {harness.git('rev-parse', '--short', 'HEAD').strip()}.",
        "",
        "| variant | requests/s | × minimal | p50 ms | p95 ms | p99 ms | CPU ms/request web + database | errors "
        "| worker restarts | CPU busy | load avg (1 min) before → after |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in measured["results"]:
        ratio = f"{r['rps'] / minimal['rps']:.2f}" if minimal and minimal["rps"] else "–"
        lines.append(f"| {r['label']} | {r['rps']:.0f} | {ratio} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} "
                     f"| {r['web_cpu_ms']:.1f} + {r['database_cpu_ms']:.1f} | {r['errors'] or 'none'} "
                     f"| {r['restarts']} | {r['cpu_busy']:.0%} "
                     f"| {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f} |")
    lines += ["", "The load generator runs on the same 2 cores and takes its share of them (CPU busy counts it). "
              "CPU per request: the gunicorn master, its workers and the workers it reaped, and the database "
              "backends alive at both readings, over the timed answers; less sensitive than requests/s to what "
              "else runs on the machine."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None):
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--db", default="cp_bench_search")
    parser.add_argument("--partners", type=int, default=1_000_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="flushed before each variant")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (0: the config's WEB_CONCURRENCY)")
    parser.add_argument("--max-requests", type=int, default=None, help="override the config's (0: never recycle)")
    parser.add_argument("--max-requests-jitter", type=int, default=None, help="override the config's")
    parser.add_argument("--cache-seconds", type=int, nargs="+", default=[0, 30],
                        help="SEARCH_CACHE_SECONDS of each API variant")
    parser.add_argument("--minimal", action=argparse.BooleanOptionalAction, default=True,
                        help="also the minimal WSGI app")
    parser.add_argument("--mix", action="store_true",
                        help="bench/search.py's realistic mix instead of the default search: each client goes round "
                             "its queries (the minimal app serves the mix's hand-written statements)")
    args = parser.parse_args(argv)
    args.reuse = True  # search.prepare_database loads the database only when it is missing or of another size
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    search_bench.configure_environment(args)
    search_bench.prepare_database(args)
    measured = measure(args)
    path = REPORT_PATH if args.db == "cp_bench_search" else REPORT_PATH.with_name(f"search-load-{args.db}.md")
    if args.mix:
        path = path.with_name(path.stem + "-mix.md")
    harness.write_report(path, render_report(args, measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
