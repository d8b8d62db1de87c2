"""Readiness costs nothing to abuse: one run of the checks at a time per process, its answer kept for a few seconds,
and a failure still shows once the window has passed."""

import threading
import time

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory, override_settings

from config import health


class SlowCheck:
    def __init__(self, seconds=0.3):
        self.seconds, self.calls, self.failing = seconds, 0, False
        self._count = threading.Lock()

    def __call__(self):
        with self._count:
            self.calls += 1
        time.sleep(self.seconds)
        if self.failing:
            raise RuntimeError("database down")
        return "ok"


@pytest.fixture
def slow_check(monkeypatch):
    check = SlowCheck()
    monkeypatch.setattr(health, "CHECKS", {"database": check})
    return check


def anonymous_ready():
    request = RequestFactory().get("/health/ready")
    request.user = AnonymousUser()
    return health.ready(request)


def concurrently(callers: int):
    statuses, start = [], threading.Barrier(callers)

    def call():
        start.wait()
        statuses.append(anonymous_ready().status_code)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


@override_settings(HEALTH_READY_CACHE_SECONDS=0.6)
def test_twenty_concurrent_callers_cause_one_check_run(slow_check):
    statuses = concurrently(20)

    assert statuses == [200] * 20
    assert slow_check.calls == 1
    assert anonymous_ready().status_code == 200
    assert slow_check.calls == 1  # still within the window: the kept answer


@override_settings(HEALTH_READY_CACHE_SECONDS=0.6)
def test_after_the_window_a_new_run_reports_a_failure(slow_check):
    assert anonymous_ready().status_code == 200
    slow_check.failing = True
    assert anonymous_ready().status_code == 200  # kept answer, within the window
    time.sleep(0.7)

    response = anonymous_ready()

    assert slow_check.calls == 2
    assert response.status_code == 503
    assert response.content == b'{"status": "unavailable"}'


@override_settings(HEALTH_READY_CACHE_SECONDS=0.6)
def test_callers_during_a_refresh_get_the_previous_answer_without_waiting(slow_check):
    anonymous_ready()
    time.sleep(0.7)
    slow_check.seconds = 1.0
    refresher = threading.Thread(target=anonymous_ready)
    refresher.start()
    time.sleep(0.1)

    started = time.monotonic()
    assert anonymous_ready().status_code == 200
    assert time.monotonic() - started < 0.5
    refresher.join()
    assert slow_check.calls == 2


@pytest.mark.django_db
@override_settings(HEALTH_READY_CACHE_SECONDS=60)
def test_staff_get_a_run_that_started_after_they_asked(slow_check, client):
    from tests.partnerships.factories import UserFactory

    assert client.get("/health/ready").status_code == 200
    slow_check.failing = True
    assert client.get("/health/ready").status_code == 200  # anonymous: kept answer
    client.force_login(UserFactory())

    body = client.get("/health/ready").json()

    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["detail"] == "RuntimeError: database down"
    assert slow_check.calls == 2
