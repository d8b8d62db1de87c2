"""Liveness and readiness for load balancers and orchestrators.

``/health/live`` answers 200 whenever the process can serve a request (no database, no broker): a failing
liveness probe restarts the process, which never fixes a database outage. ``/health/ready`` checks what a
request needs — PostgreSQL, Redis, a Celery worker — each with a timeout of about a second, and answers 503
when one fails so the balancer stops sending traffic. Anonymous callers get only the status; staff also get
each check's result and the reason it failed.

Readiness costs nothing to abuse: the checks run at most once at a time per process and their result is kept for
``HEALTH_READY_CACHE_SECONDS``. Within that window every anonymous caller gets the kept answer; after it, the first
caller runs the checks again while concurrent callers get the previous answer (or, when there is none yet, wait for
that one run). Signed-in staff get an answer from a run that started after they asked (still one run at a time).
A refusal (connection refused or closed, an error) shows to the load balancer within the window plus one run.
A check that only times out is not taken as an outage at once: a flood that saturates the CPU slows every answer
(the Celery worker's ping reply, a Redis or PostgreSQL round trip) while the dependencies are fine, and answering
503 then would take a healthy instance out of the balancer. Such a run stays ready while the last run that passed
began at most ``HEALTH_READY_GRACE_SECONDS`` ago, so a dependency that hangs (or a worker that is gone, which
answers nothing) shows within the grace plus one window. A process whose checks never passed (a worker restarted
during the flood) counts the last pass of another web process of this host with the same dependencies (a file's
time in the temporary folder); with none it is not ready.

A flood of anonymous probes must not slow the pages people use: ``fast_path`` wraps the WSGI application and
answers an anonymous GET or HEAD of ``/health/live``, or of ``/health/ready`` while a kept answer is usable (or
while another caller is running the checks: the previous answer up to the window plus the grace, then 503),
before Django's middleware, URL resolver and session lookup run.
Everything else — staff, a stale answer with no run under way — goes through Django as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

TIMEOUT_SECONDS = 1.0
logger = logging.getLogger(__name__)
EAGER = "not needed (eager: tasks run in the web process)"


def check_database() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # SET LOCAL would need a transaction; this session setting ends with the statement below.
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [str(int(TIMEOUT_SECONDS * 1000))])
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.execute("SELECT set_config('statement_timeout', '0', false)")
        else:
            cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
    try:
        client.ping()
    finally:
        client.close()


def check_broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return EAGER
    _redis_ping(settings.CELERY_BROKER_URL)
    return "ok"


def check_cache() -> str:
    location = settings.CACHES["default"].get("LOCATION")
    if "redis" not in settings.CACHES["default"]["BACKEND"] or not location:
        return "not used (in-process cache)"
    _redis_ping(location)
    return "ok"


class NoAnswer(TimeoutError):
    """A dependency did not answer within its timeout: slow (a saturated CPU, a busy worker) or gone."""


def check_worker() -> str:
    if not settings.CELERY_BROKER_URL:
        return EAGER
    from config.celery import app

    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
        # limit=1: one worker's answer is enough, so a healthy check takes milliseconds instead of always waiting
        # out the timeout for workers that might also answer (it held the process for the whole second).
        replies = app.control.ping(timeout=TIMEOUT_SECONDS, connection=conn, limit=1)
    if not replies:
        raise NoAnswer(f"no Celery worker answered within {TIMEOUT_SECONDS:g} s")
    return "ok"


def timed_out(exc: BaseException) -> bool:
    """The failure is a dependency answering too slowly, not refusing: the check's own timeouts (socket, Redis,
    PostgreSQL's statement_timeout or connect_timeout, no worker reply), also when wrapped (Django's database
    errors keep psycopg's as their cause). A refused connection, a closed one, an authentication or any other
    error is a refusal."""
    import psycopg.errors
    import redis.exceptions

    slow = (TimeoutError, redis.exceptions.TimeoutError, psycopg.errors.QueryCanceled,
            psycopg.errors.ConnectionTimeout)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, slow):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
    "worker": check_worker,
}


def run_checks() -> dict[str, dict]:
    """Each check's result: ``ok``, ``detail``, ``ms``, and for a failure ``timeout`` (see ``timed_out``)."""
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        if name == "worker" and results.get("broker", {}).get("ok") is False:
            results[name] = {"ok": False, "timeout": results["broker"]["timeout"],
                             "detail": "not checked: the broker is down"}
            continue
        try:
            results[name] = {"ok": True, "detail": check()}
        except Exception as exc:  # noqa: BLE001 - any failure makes the process not ready; the reason is reported
            results[name] = {"ok": False, "timeout": timed_out(exc), "detail": f"{type(exc).__name__}: {exc}"}
        results[name]["ms"] = round((time.monotonic() - started) * 1000)
        if not results[name]["ok"]:
            logger.warning("readiness check %s failed after %d ms: %s", name, results[name]["ms"],
                           results[name]["detail"], extra={"check": name, "ms": results[name]["ms"],
                                                           "timeout": results[name]["timeout"]})
    return results


@dataclass(frozen=True)
class Readiness:
    started: float  # time.monotonic() when the checks began
    results: dict[str, dict]
    healthy: bool
    last_good: float | None = None  # when the latest run whose checks all passed began (this one's, if so)


def judge(results: dict[str, dict], started: float, previous: Readiness | None) -> Readiness:
    """A run's answer. Every check passed: ready. A check refused (connection refused or closed, an error):
    not ready, at once. Checks only timed out — as they do when a flood saturates the CPU and the dependencies are
    fine: still ready while the last run that passed (in this process, or for a process with none yet, in another
    web process of this host: ``passed_elsewhere_within``) began at most HEALTH_READY_GRACE_SECONDS ago, so a
    dependency that hangs is reported within the grace plus one window."""
    if all(result["ok"] for result in results.values()):
        return Readiness(started=started, results=results, healthy=True, last_good=started)
    grace = settings.HEALTH_READY_GRACE_SECONDS
    last_good = previous.last_good if previous is not None else None
    only_slow = all(result["ok"] or result["timeout"] for result in results.values())
    # Without a pass of its own: a new process (a restarted worker) whose first run came during the flood.
    recent = started - last_good <= grace if last_good is not None else passed_elsewhere_within(grace)
    return Readiness(started=started, results=results, healthy=only_slow and recent, last_good=last_good)


# Where a run that passed leaves its time for the other web processes of this host (tests point it elsewhere).
STATE_DIR = Path(tempfile.gettempdir())


def _state_file() -> Path:
    """One file per user and set of dependencies: another deployment on the host never counts."""
    database = settings.DATABASES["default"]
    dependencies = repr((database.get("ENGINE"), database.get("NAME"), database.get("HOST"), database.get("PORT"),
                         settings.CELERY_BROKER_URL, settings.CACHES["default"].get("LOCATION")))
    return STATE_DIR / f"cp-health-passed-{os.getuid()}-{hashlib.sha256(dependencies.encode()).hexdigest()[:16]}"


def _mark_passed() -> None:
    with contextlib.suppress(OSError):  # a read-only or full disk: other processes just don't learn of this run
        _state_file().touch()


def passed_elsewhere_within(seconds: float) -> bool:
    """A web process of this host (this user, these dependencies) passed every check at most ``seconds`` ago."""
    try:
        state = _state_file().stat()
    except OSError:
        return False
    return state.st_uid == os.getuid() and 0 <= time.time() - state.st_mtime <= seconds


_run_lock = threading.Lock()
_last: Readiness | None = None


def forget() -> None:
    """Drop the kept answer (tests; a process starts without one)."""
    global _last
    _last = None


def _run() -> Readiness:
    global _last
    started = time.monotonic()
    _last = judge(run_checks(), started, _last)
    if _last.last_good == started:
        _mark_passed()
    return _last


def _kept(entry: Readiness | None) -> bool:
    """The answer is young enough to give anonymous callers again (HEALTH_READY_CACHE_SECONDS)."""
    return entry is not None and time.monotonic() - entry.started < settings.HEALTH_READY_CACHE_SECONDS


def _while_running(previous: Readiness) -> Readiness:
    """The answer for a caller who finds another caller running the checks: the previous one, unless it began
    longer ago than the window plus the grace — then the run under way hangs past its timeouts: not ready."""
    limit = settings.HEALTH_READY_CACHE_SECONDS + settings.HEALTH_READY_GRACE_SECONDS
    if time.monotonic() - previous.started <= limit:
        return previous
    return Readiness(started=previous.started, healthy=False, last_good=previous.last_good,
                     results={"checks": {"ok": False, "timeout": True,
                                         "detail": f"a run of the checks has taken over {limit:g} s"}})


def readiness(*, fresh: bool = False) -> Readiness:
    """The checks' answer, run at most once at a time in this process: kept for HEALTH_READY_CACHE_SECONDS, or
    with ``fresh`` from a run that started after this call."""
    asked = time.monotonic()

    def usable(entry: Readiness | None) -> bool:
        if entry is None:
            return False
        if fresh:
            return entry.started >= asked
        return _kept(entry)

    if usable(_last):
        return _last  # type: ignore[return-value]
    if _run_lock.acquire(blocking=False):
        try:
            return _last if usable(_last) else _run()  # type: ignore[return-value]
        finally:
            _run_lock.release()
    # Another caller is running the checks: answer with the previous result if there is one, else wait for it.
    previous = _last
    if previous is not None and not fresh:
        return _while_running(previous)
    with _run_lock:
        return _last if _last is not None and (not fresh or usable(_last)) else _run()


def _is_staff(request) -> bool:
    try:
        return bool(request.user.is_active and request.user.is_staff)
    except Exception:  # noqa: BLE001 - the session store is the database: when it is down, treat as anonymous
        return False


@never_cache
def live(request):
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request):
    staff = _is_staff(request)
    answer = readiness(fresh=staff)
    body: dict = {"status": "ok" if answer.healthy else "unavailable"}
    if staff:
        body["checks"] = answer.results
    return JsonResponse(body, status=200 if answer.healthy else 503)


FAST_PATHS = frozenset({"/health/live", "/health/ready"})
_FAST_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "max-age=0, no-cache, no-store, must-revalidate, private"),  # as never_cache sends
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
]
_BODIES = {True: b'{"status": "ok"}', False: b'{"status": "unavailable"}'}


def _kept_for_anonymous() -> Readiness | None:
    """The answer an anonymous caller would get from ``readiness()`` without running anything, if there is one."""
    kept = _last
    if kept is None:
        return None
    if _kept(kept):
        return kept
    return _while_running(kept) if _run_lock.locked() else None


def fast_path(application):
    """WSGI middleware: anonymous health probes answered without Django's request cycle (see the module's doc)."""
    session_cookie = f"{settings.SESSION_COOKIE_NAME}="  # a caller with a session may be staff: Django decides

    def health_first(environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path in FAST_PATHS and method in ("GET", "HEAD") and session_cookie not in environ.get("HTTP_COOKIE", ""):
            healthy: bool | None = True
            if path == "/health/ready":
                kept = _kept_for_anonymous()
                healthy = None if kept is None else kept.healthy
            if healthy is not None:
                body = _BODIES[healthy]
                start_response("200 OK" if healthy else "503 Service Unavailable",
                               [*_FAST_HEADERS, ("Content-Length", str(len(body)))])
                return [b"" if method == "HEAD" else body]
        return application(environ, start_response)

    return health_first
