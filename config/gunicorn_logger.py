"""gunicorn's logger for the web process (config/gunicorn.py ``logger_class``): its access log leaves out the
health probes that were answered 200.

A load balancer probes every few seconds and a flood of anonymous probes many times a second (issue 15): a JSON
line for each was noise in the logs and CPU taken from the pages people use, spent after the answer was already
fast. A probe answered otherwise (503, 4xx) is logged, and so is every other request."""

from __future__ import annotations

from gunicorn.glogging import Logger

HEALTH_PROBES = frozenset({"/health/live", "/health/ready"})  # the paths config.health.fast_path answers


class ProbeQuietLogger(Logger):
    def access(self, resp, req, environ, request_time):
        if getattr(resp, "status_code", None) == 200 and req.path in HEALTH_PROBES:
            return
        super().access(resp, req, environ, request_time)
