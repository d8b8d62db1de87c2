"""gunicorn settings for the web process (Procfile: ``gunicorn config.wsgi --config config/gunicorn.py``).

Sync workers: long work (imports, payout runs) goes to Celery, so a request never needs more than the
timeout. Workers are recycled after a jittered number of requests so slow leaks never accumulate, and
access and error logs are JSON lines like the application's.

Forwarded headers (X-Forwarded-Proto and the like) are trusted from nobody unless configured: FORWARDED_ALLOW_IPS
names the proxies, and TRUST_X_FORWARDED_PROTO=true alone trusts a proxy on the same machine (127.0.0.1). Without
either a client can never make a plain HTTP request look like HTTPS.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycling is for slow leaks, so it is rare and spread out: each worker after 5,000-15,000 requests (0: never). At
# 1,000 requests and 10% jitter, under 550 requests/s on 3 workers, a worker restarted every 1.7 s and they restarted
# close together: p99 181 ms against 75 ms never recycling, and 18% fewer requests (bench/search_load.py, issue 18).
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 2
# The application is imported once, in the master, and the workers are forked from it: a worker recycled by
# max_requests (or replaced after a timeout) serves within milliseconds instead of importing Django and the project
# again (about 1.2 s of CPU each: under load, at 1,000 requests a worker, over 1 ms of every request's CPU, and when
# the workers recycle close together, seconds with none serving). Nothing connects at import (the database, Redis
# and the broker connect at first use, in the worker), so no connection is shared by the forks. WEB_PRELOAD=false
# imports in each worker as before (e.g. to reload code with HUP).
preload_app = os.environ.get("WEB_PRELOAD", "true").strip().lower() not in {"0", "false", "no", "off"}
# The paths config.health.fast_path answers (repeated here: this file is read before the project is importable).
HEALTH_PROBES = frozenset({"/health/live", "/health/ready"})


def pre_request(worker, req):
    """A health probe does not count towards max_requests: recycling is for what application requests leave behind,
    and a probe leaves nothing. Counted, a flood of probes restarted every worker every few seconds (at 860 probes/s,
    1,000 requests each): each restart re-imported Django on the busy CPU and came up with no kept readiness answer,
    which then ran every check under the flood (issue 15). gunicorn adds one right after this hook."""
    if req.method in ("GET", "HEAD") and req.path in HEALTH_PROBES:
        worker.nr -= 1


def post_worker_init(worker):
    """Each worker runs the readiness checks once before it serves (config.health). A worker that met its first
    probe under a flood ran its first checks then, and a worker ping that timed out on the saturated CPU had no
    earlier pass to lean on: it answered 503 for a moment (about 1,100 answers in a bench run) though every
    dependency was fine. With a pass from its start, a later timeout keeps the grace; a real outage still shows."""
    try:
        from config import health  # the project is importable here: the worker has loaded the application

        health.readiness(fresh=True)
    except Exception:  # noqa: BLE001 - never keep a worker from starting; the checks run again on the first probe
        worker.log.exception("readiness checks at worker start failed")


def _forwarded_allow_ips(environ) -> str:
    """Read here with os alone: gunicorn loads this file before the project is importable."""
    configured = environ.get("FORWARDED_ALLOW_IPS")
    if configured is not None:
        return configured.strip()
    if environ.get("TRUST_X_FORWARDED_PROTO", "").strip().lower() in {"1", "true", "yes", "on"}:
        return "127.0.0.1"
    return ""  # gunicorn reads "" as an empty list: no peer's forwarded headers are believed


forwarded_allow_ips = _forwarded_allow_ips(os.environ)
accesslog = "-"
logger_class = "config.gunicorn_logger.ProbeQuietLogger"  # the access log leaves out health probes answered 200
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
