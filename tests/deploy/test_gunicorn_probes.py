"""gunicorn under a flood of health probes (config/gunicorn.py, issue 15): probes do not count towards
max_requests, so they never make workers restart, and the access log leaves out the ones answered 200, while
every other request still counts and is logged."""

import re
import urllib.error
import urllib.request

import pytest

from tests.processes import Browser, Process, base_env, free_port, gunicorn, wait_for

pytestmark = [
    pytest.mark.postgres,  # the web process uses the test's database
    pytest.mark.django_db(transaction=True),
]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_probes_neither_recycle_workers_nor_fill_the_access_log(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = base_env(DJANGO_SETTINGS_MODULE="config.settings_test", CELERY_BROKER_URL="", WEB_MAX_REQUESTS="10")
    web = Process("web", gunicorn(port), env=env, logs=tmp_path)  # 2 workers, each recycled after 10-15 requests
    try:
        Browser(base).wait_until_up(web)
        statuses = {get(f"{base}/health/live") for _ in range(40)} | {get(f"{base}/health/ready") for _ in range(20)}
        assert statuses == {200}
        assert "Autorestarting" not in web.log()
        assert not re.search(r'"(GET|HEAD) /health/(live|ready)[ ?][^"]*" 200', web.log())

        assert {get(f"{base}/no-such-page/") for _ in range(35)} == {404}  # more than 2 × 15: a worker recycles
        web.wait_for_log("Autorestarting worker after current request", timeout=10)
        wait_for(lambda: len(re.findall(r'"GET /no-such-page/ [^"]*" 404', web.log())) == 35, timeout=10,
                 what="every page request in the access log", processes=(web,))
    finally:
        assert web.stop() == 0


def test_each_worker_runs_the_checks_once_before_it_serves(tmp_path):
    """A pass from the worker's start: a check that times out under a later flood then keeps the grace instead of
    answering 503 (config/gunicorn.py post_worker_init). The pass leaves its time in the temporary folder."""
    port = free_port()
    state = tmp_path / "tmp"
    state.mkdir()
    env = base_env(DJANGO_SETTINGS_MODULE="config.settings_test", CELERY_BROKER_URL="", TMPDIR=str(state))
    web = Process("web", gunicorn(port), env=env, logs=tmp_path)
    try:
        web.wait_for_log(r"Booting worker", timeout=60)
        passed = wait_for(lambda: list(state.glob("cp-health-passed-*")), timeout=60,
                          what="a worker's checks pass before any probe", processes=(web,))
        assert len(passed) == 1
        assert "readiness checks at worker start failed" not in web.log()
        Browser(f"http://127.0.0.1:{port}").wait_until_up(web, path="/health/ready")
    finally:
        assert web.stop() == 0
