"""Readiness tells a dependency that is slow from one that is down (issue 15): a flood that saturates the CPU makes
every check answer late while the dependencies are fine, and must not take the instance out of the load balancer;
a refused connection must, at once. Real PostgreSQL and Redis; a dependency that is down is a port where nothing
listens, a slow one a real socket that takes the connection and never answers."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time

import pytest
from django.db import DatabaseError, connection, transaction

from config import health
from tests.processes import Process, free_port, redis_server

REFUSED = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


@contextlib.contextmanager
def unanswering_redis():
    """A Redis URL whose server accepts connections (the kernel's backlog) and never answers a command."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.fixture
def quick(monkeypatch, settings, tmp_path):
    """Checks time out after 0.3 s; no kept answer before or after, here or in another process; every call runs
    the checks (fresh)."""
    monkeypatch.setattr(health, "TIMEOUT_SECONDS", 0.3)
    monkeypatch.setattr(health, "STATE_DIR", tmp_path)
    settings.HEALTH_READY_GRACE_SECONDS = 60
    health.forget()
    yield settings
    health.forget()


def run() -> tuple[health.Readiness, float]:
    started = time.monotonic()
    answer = health.readiness(fresh=True)
    return answer, time.monotonic() - started


def passed_once(settings) -> None:
    settings.CELERY_BROKER_URL = ""  # eager: database and cache only
    assert health.readiness(fresh=True).healthy


@pytest.mark.django_db
def test_a_slow_broker_after_a_passing_run_stays_ready_within_the_grace(quick):
    passed_once(quick)
    with unanswering_redis() as url:
        quick.CELERY_BROKER_URL = url
        answer, seconds = run()
        assert answer.results["broker"]["ok"] is False
        assert answer.results["broker"]["timeout"] is True
        assert "TimeoutError" in answer.results["broker"]["detail"]
        assert answer.healthy  # slow, not refused, and the last passing run is recent
        assert seconds < 3

        quick.HEALTH_READY_GRACE_SECONDS = 0  # the grace is over: a dependency that hangs is reported
        assert run()[0].healthy is False


@pytest.mark.django_db
def test_a_slow_broker_with_no_passing_run_is_not_ready(quick):
    with unanswering_redis() as url:
        quick.CELERY_BROKER_URL = url
        answer, _ = run()
    assert answer.results["broker"]["timeout"] is True
    assert answer.healthy is False  # never shown ready: nothing to stay ready on


@pytest.mark.django_db
def test_a_new_process_stays_ready_on_a_recent_pass_of_another_process_for_timeouts_only(quick):
    """A worker restarted during the flood has no passing run of its own; another web process's recent one
    counts for timeouts (the dependencies are the same), never for a refusal, and only within the grace."""
    with unanswering_redis() as url:
        quick.CELERY_BROKER_URL = url
        assert health.passed_elsewhere_within(60) is False  # nothing passed with these dependencies yet
        health._mark_passed()  # another web process of this host just passed every check with them
        answer, _ = run()
        assert answer.results["broker"]["timeout"] is True
        assert answer.last_good is None  # no pass of its own
        assert answer.healthy
        quick.HEALTH_READY_GRACE_SECONDS = 0
        health.forget()
        assert run()[0].healthy is False
    quick.HEALTH_READY_GRACE_SECONDS = 60
    health.forget()
    quick.CELERY_BROKER_URL = REFUSED
    health._mark_passed()
    assert run()[0].healthy is False  # a refusal: another process's pass does not count


@pytest.mark.django_db
def test_a_refused_broker_is_not_ready_at_once_even_after_a_passing_run(quick):
    passed_once(quick)
    quick.CELERY_BROKER_URL = REFUSED
    answer, seconds = run()
    assert answer.healthy is False
    assert answer.results["broker"]["timeout"] is False
    assert "ConnectionError" in answer.results["broker"]["detail"]
    assert answer.results["worker"] == {"ok": False, "timeout": False, "detail": "not checked: the broker is down"}
    assert seconds < 2


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own: no Celery worker anywhere listens on it."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server (apt install redis-server)")
    port = free_port()
    server = Process("redis", redis_server(port), env=dict(os.environ), logs=tmp_path)
    try:
        server.wait_for_log("Ready to accept connections")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.stop()


@pytest.mark.django_db
def test_a_worker_that_does_not_answer_is_a_timeout_reported_after_the_grace(quick, private_redis):
    """A Redis broker that works and no Celery worker: the ping gets no reply within the timeout."""
    passed_once(quick)
    quick.CELERY_BROKER_URL = private_redis
    answer, seconds = run()
    assert answer.results["broker"]["ok"] is True
    assert answer.results["worker"]["ok"] is False
    assert answer.results["worker"]["timeout"] is True
    assert answer.healthy
    assert seconds < 3
    quick.HEALTH_READY_GRACE_SECONDS = 0
    assert run()[0].healthy is False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the connection is closed and reopened on another port
def test_a_database_on_a_refusing_port_is_not_ready_at_once_even_after_a_passing_run(quick):
    passed_once(quick)
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())
    try:
        answer, seconds = run()
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    assert answer.healthy is False
    assert answer.results["database"]["ok"] is False
    assert answer.results["database"]["timeout"] is False
    assert "OperationalError" in answer.results["database"]["detail"]
    assert seconds < 2
    assert run()[0].healthy  # back on its port: ready again on the next run


@pytest.mark.postgres
@pytest.mark.django_db
def database_error(*statements: str) -> DatabaseError:
    """The error PostgreSQL raises for the last of these statements (in a transaction rolled back after)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    except DatabaseError as error:
        return error
    raise AssertionError(f"no error from {statements}")


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresqls_statement_timeout_counts_as_slow_and_its_errors_as_refusals():
    # What the database check's statement_timeout raises:
    assert health.timed_out(database_error("SET LOCAL statement_timeout = 50", "SELECT pg_sleep(2)"))
    assert not health.timed_out(database_error("SELECT * FROM no_such_table"))
