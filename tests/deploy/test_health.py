"""Liveness and readiness: status for everyone, details for staff, failures reported fast."""

import time

import pytest
from django.test import override_settings

from tests.partnerships.factories import UserFactory

DOWN_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


def test_liveness_answers_without_the_database(client):
    response = client.get("/health/live")  # no django_db mark: any query would raise
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL="")
def test_ready_in_eager_mode_needs_no_worker(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}  # anonymous: no details

    client.force_login(UserFactory())
    checks = client.get("/health/ready").json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["worker"] == {"ok": True, "detail": "not needed (eager: tasks run in the web process)",
                                "ms": checks["worker"]["ms"]}


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL=DOWN_BROKER)
def test_ready_reports_a_broker_down_fast_with_details_only_for_staff(client):
    started = time.monotonic()
    response = client.get("/health/ready")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}  # no error text for anonymous callers

    client.force_login(UserFactory())
    body = client.get("/health/ready").json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert "ConnectionError" in body["checks"]["broker"]["detail"]
    assert body["checks"]["broker"]["timeout"] is False  # refused, not slow: no grace
    assert body["checks"]["worker"] == {"ok": False, "timeout": False, "detail": "not checked: the broker is down"}


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL=DOWN_BROKER)
def test_non_staff_users_get_no_details(client):
    client.force_login(UserFactory(is_staff=False))
    assert client.get("/health/ready").json() == {"status": "unavailable"}
