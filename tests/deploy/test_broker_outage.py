"""The broker goes down and comes back (a private redis-server, started and stopped by this test; the
machine's Redis is never touched): the admin keeps serving pages, readiness reports the broker down,
a compute asked for meanwhile waits as "computing", and once the broker is back the work completes."""

import shutil
import signal

import pytest

from payouts.models import EarningLine, PayoutRun
from payouts.roles import ensure_group_permissions
from tests.partnerships.factories import UserFactory
from tests.payouts.factories import member, paying_program
from tests.processes import (
    Browser,
    Process,
    base_env,
    celery_worker,
    free_port,
    gunicorn,
    python,
    redis_server,
    wait_for,
)

pytestmark = [
    pytest.mark.postgres,  # the worker and the web process share the test's database
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (apt install redis-server)"),
]


def test_admin_and_readiness_survive_a_broker_outage_and_queued_work_completes_after(tmp_path):
    UserFactory(username="finance", groups=["Finance approvers"])
    ensure_group_permissions()
    program = paying_program(partner_cap_minor=5_000_00)
    for handle, views in [("a", 6_000_000), ("b", 3_000_000), ("c", 1_000_000)]:
        member(program, handle=handle, views=views)

    redis_port, web_port = free_port(), free_port()
    broker = f"redis://127.0.0.1:{redis_port}/0"
    env = base_env(DJANGO_SETTINGS_MODULE="config.settings_test", CELERY_BROKER_URL=broker)
    redis = Process("redis", redis_server(redis_port), env=env, logs=tmp_path)
    redis.wait_for_log("Ready to accept connections")
    web = Process("web", gunicorn(web_port), env=env, logs=tmp_path)
    worker = Process("worker", celery_worker("outage", "--pool=solo"), env=env, logs=tmp_path)
    processes = [web, worker, redis]
    try:
        browser = Browser(f"http://127.0.0.1:{web_port}")
        browser.wait_until_up(web)
        worker.wait_for_log(r"ready\.")
        browser.admin_login("finance")
        assert browser.request("/health/ready")[0] == 200

        assert redis.stop() == 0  # the broker goes down
        for page in ("/admin/", "/admin/payouts/payoutrun/", "/admin/partnerships/enrolment/"):
            status, html, _ = browser.request(page)
            assert status == 200, (page, html[:2000])
        status, body, _ = browser.request("/health/ready")
        assert status == 503
        assert '"broker": {"ok": false' in body
        # An anonymous probe may reach the other worker, which answers from its kept result (at most
        # HEALTH_READY_CACHE_SECONDS old, 5 s) until that expires; then it runs the checks and sees the outage.
        wait_for(lambda: Browser(browser.base_url).request("/health/ready")[1] == '{"status": "unavailable"}',
                 timeout=30, interval=0.5, what="an anonymous probe reports the outage", processes=(web,))
        assert browser.request("/health/live")[0] == 200

        status, html, _ = browser.submit("/admin/payouts/payoutrun/compute/", {"program": program.pk,
                                                                               "month": "2026-08"})
        assert status == 200
        assert "stays computing, but the task queue is unavailable" in html
        run = PayoutRun.objects.get(program=program)
        assert run.status == PayoutRun.Status.COMPUTING

        redis = Process("redis-again", redis_server(redis_port), env=env, logs=tmp_path)  # the broker is back
        processes.append(redis)
        redis.wait_for_log("Ready to accept connections")
        wait_for(lambda: browser.request("/health/ready")[0] == 200, timeout=90, interval=1,
                 what="the worker reconnects and readiness recovers", processes=(web, worker, redis))
        # What beat's next requeue_stalled_runs does, asked for now instead of in ten minutes.
        sent = Process("call", python("-m", "celery", "-A", "config", "call", "payouts.requeue_stalled_runs",
                                      "--kwargs", '{"older_than_seconds": 0}'), env=env, logs=tmp_path)
        assert sent.popen.wait(timeout=60) == 0, sent.log()
        wait_for(lambda: PayoutRun.objects.filter(pk=run.pk, status=PayoutRun.Status.COMPUTED).exists(), timeout=90,
                 what="the queued computation completes", processes=(web, worker, redis))
    finally:
        codes = {process.name: process.stop(signal.SIGTERM) for process in processes}
    assert dict(EarningLine.objects.filter(run=run).values_list("partner__handle", "gross_minor")) == {
        "a": 5_000_00, "b": 3_750_00, "c": 1_250_00}
    assert codes["web"] == codes["worker"] == 0, codes
