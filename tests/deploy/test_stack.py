"""The production stack as the Procfile starts it: gunicorn, a Celery worker and one beat, as separate
processes on PostgreSQL and Redis, with production settings. A finance user computes a month through the
web; the worker computes it; everything stops cleanly on SIGTERM."""

import re
import secrets
import signal
import subprocess
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from payouts.models import EarningLine, PayoutRun
from payouts.roles import ensure_group_permissions
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import member, paying_program
from tests.processes import (
    ROOT,
    Browser,
    Process,
    base_env,
    celery_beat,
    celery_worker,
    free_port,
    gunicorn,
    production_password,
    python,
    wait_for,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs Redis: set CELERY_BROKER_URL (CI does)"),
]
STACK_REDIS_DB = 14  # its own database on the machine's Redis, emptied first: no message from other tests


def stack_broker_url() -> str:
    parts = urlsplit(settings.CELERY_BROKER_URL)
    return urlunsplit(parts._replace(path=f"/{STACK_REDIS_DB}"))


def test_web_worker_and_beat_compute_a_month_and_stop_cleanly(tmp_path):
    import redis

    redis.Redis.from_url(stack_broker_url()).flushdb()
    production_password(UserFactory(username="starter", groups=["Finance approvers"]))
    ensure_group_permissions()
    program = paying_program(partner_cap_minor=5_000_00)
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)

    port = free_port()
    env = base_env(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50),
                   PAYEE_DATA_KEY=secrets.token_urlsafe(50),
                   ALLOWED_HOSTS="127.0.0.1", CELERY_BROKER_URL=stack_broker_url(),
                   STATIC_ROOT=str(tmp_path / "static"),
                   # No TLS in this test; production keeps the secure defaults.
                   SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false")
    collected = subprocess.run(python("manage.py", "collectstatic", "--noinput", "-v", "0"), cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stderr

    web = Process("web", gunicorn(port), env=env, logs=tmp_path)
    worker = Process("worker", celery_worker("stack", "--concurrency=1"), env=env, logs=tmp_path)
    beat = Process("beat", celery_beat(tmp_path), env=env, logs=tmp_path)
    processes = (web, worker, beat)
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        browser.wait_until_up(web)
        worker.wait_for_log(r"ready\.")
        beat.wait_for_log(r"beat: Starting")

        browser.admin_login("starter")
        status, html, _ = browser.submit("/admin/payouts/payoutrun/compute/", {"program": program.pk,
                                                                               "month": "2026-08"})
        assert status == 200, html[:2000]
        assert "Computing" in html, html[:3000]

        run = wait_for(lambda: PayoutRun.objects.filter(program=program, status=PayoutRun.Status.COMPUTED).first(),
                       timeout=90, what="the worker computes the month", processes=processes)
        assert run.started_by.username == "starter"
        assert dict(EarningLine.objects.filter(run=run).values_list("partner__handle", "gross_minor")) == {
            "a": 5_000_00, "b": 3_750_00, "c": 1_250_00}

        status, body, _ = browser.request("/health/ready")
        assert status == 200, body
        assert '"worker": {"ok": true' in body

        stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', html)
        assert stylesheet, "static files are served under their hashed names"
        status, _, headers = browser.request(stylesheet.group(1))
        assert status == 200
        assert "immutable" in headers.get("Cache-Control", "")
        assert "Content-Security-Policy" in browser.request("/admin/login/")[2]
    finally:
        codes = {process.name: process.stop(signal.SIGTERM) for process in processes}
    assert codes == {"web": 0, "worker": 0, "beat": 0}, "\n".join(p.log()[-3000:] for p in processes)
    assert '"logger": "gunicorn.access"' in web.log()  # JSON lines
