"""Anonymous health probes are answered before Django's request cycle (config.health.fast_path), so a flood of
them costs the pages people use as little as possible; anything that needs Django still gets it."""

from __future__ import annotations

import time
from wsgiref.util import setup_testing_defaults

import pytest
from django.test import override_settings

from config import health


class Django:
    """Stands in for the WSGI application behind the fast path and records that a request reached it."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, environ, start_response):
        self.calls.append(environ["PATH_INFO"])
        start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
        return [b"django"]


def call(app, path: str, method: str = "GET", cookie: str = "") -> tuple[str, dict, bytes]:
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": method}
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    setup_testing_defaults(environ)
    answer: dict = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


@pytest.fixture
def kept():
    """Put a kept readiness answer in place (healthy or not, this old) and forget it afterwards."""
    def put(healthy: bool, age: float = 0.0) -> None:
        started = time.monotonic() - age
        health._last = health.Readiness(started=started, healthy=healthy, last_good=started if healthy else None,
                                        results={"database": {"ok": healthy, "timeout": False, "detail": "x",
                                                              "ms": 1}})
    yield put
    health.forget()


def test_liveness_never_reaches_django():
    django = Django()
    status, headers, body = call(health.fast_path(django), "/health/live")
    assert (status, body, django.calls) == ("200 OK", b'{"status": "ok"}', [])
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"].startswith("max-age=0, no-cache, no-store")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Length"] == str(len(body))


def test_a_kept_answer_is_served_without_django(kept):
    django = Django()
    app = health.fast_path(django)
    kept(True)
    assert call(app, "/health/ready")[::2] == ("200 OK", b'{"status": "ok"}')
    kept(False)
    assert call(app, "/health/ready")[::2] == ("503 Service Unavailable", b'{"status": "unavailable"}')
    assert django.calls == []


@override_settings(HEALTH_READY_CACHE_SECONDS=5)
def test_a_stale_answer_goes_to_django_unless_a_run_is_under_way(kept):
    django = Django()
    app = health.fast_path(django)
    kept(True, age=6)
    assert call(app, "/health/ready")[0].startswith("418")  # Django runs the checks
    assert django.calls == ["/health/ready"]
    with health._run_lock:  # another request is running them: the previous answer, as readiness() gives
        assert call(app, "/health/ready")[0] == "200 OK"
    assert django.calls == ["/health/ready"]


@override_settings(HEALTH_READY_CACHE_SECONDS=5, HEALTH_READY_GRACE_SECONDS=10)
def test_a_run_under_way_keeps_the_previous_answer_for_a_bounded_time_only(kept):
    """A run that hangs past its timeouts must not keep an old 200 in the balancer: past the window plus the
    grace, a caller who finds the checks still running gets 503."""
    app = health.fast_path(Django())
    with health._run_lock:
        kept(True, age=14)
        assert call(app, "/health/ready")[0] == "200 OK"
        kept(True, age=16)
        assert call(app, "/health/ready")[::2] == ("503 Service Unavailable", b'{"status": "unavailable"}')
        assert health.readiness().healthy is False
        assert "taken over 15 s" in health.readiness().results["checks"]["detail"]


def test_no_kept_answer_goes_to_django():
    health.forget()
    django = Django()
    assert call(health.fast_path(django), "/health/ready")[2] == b"django"


def test_callers_with_a_session_other_methods_and_other_paths_go_to_django(kept, settings):
    kept(True)
    django = Django()
    app = health.fast_path(django)
    call(app, "/health/ready", cookie=f"csrftoken=a; {settings.SESSION_COOKIE_NAME}=abc")  # may be staff
    call(app, "/health/live", method="POST")
    call(app, "/health/ready/")
    call(app, "/brands/login/")
    assert django.calls == ["/health/ready", "/health/live", "/health/ready/", "/brands/login/"]


def test_head_gets_no_body(kept):
    kept(True)
    status, headers, body = call(health.fast_path(Django()), "/health/ready", method="HEAD")
    assert (status, body, headers["Content-Length"]) == ("200 OK", b"", "16")


@pytest.mark.django_db(transaction=True)  # the WSGI handler closes the connection at the request's start
def test_the_projects_wsgi_application_uses_the_fast_path(settings):
    from config.wsgi import application

    # Both through the fixture: an override_settings decorator beside it would be undone first, and the fixture's
    # teardown would then bring its empty broker back for every later test.
    settings.CELERY_BROKER_URL = ""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    health.forget()
    first = call(application, "/health/ready")  # no kept answer: through Django, which runs the checks
    assert first[0] == "200 OK"
    assert first[1]["Content-Type"] == "application/json"
    assert health._last is not None
    assert "X-Frame-Options" in first[1]
    again = call(application, "/health/ready")
    assert again[::2] == ("200 OK", b'{"status": "ok"}')
    health.forget()
