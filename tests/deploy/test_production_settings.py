"""Production settings: check --deploy is clean, the security headers are sent, logs are JSON, no secret default."""

import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.logging import JsonFormatter
from tests.partnerships.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DEBUG", "SECURE_", "DJANGO_"))}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": secrets.token_urlsafe(50),
            "PAYEE_DATA_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "example.com", "DEBUG": "false", **extra}


def manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_with_production_settings_reports_nothing():
    # A shared cache, as production has (the per-brand rate limits need one): check --deploy warns without it.
    result = manage("check", "--deploy", "--fail-level", "WARNING",
                    env=production_env(CACHE_URL="redis://127.0.0.1:6379/14"))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Environment variable SECRET_KEY is required" in result.stderr


def test_check_deploy_refuses_production_without_a_payee_data_key():
    env = production_env(CACHE_URL="redis://127.0.0.1:6379/14")
    del env["PAYEE_DATA_KEY"]
    result = manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "payouts.E001" in result.stderr
    assert "PAYEE_DATA_KEY is not set" in result.stderr


def test_production_settings_are_secure_by_default():
    script = ("import django; django.setup(); from django.conf import settings as s; import json; print(json.dumps("
              "[s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
              "s.STORAGES['staticfiles']['BACKEND'], s.LOGGING['handlers']['console']['formatter'], "
              "'whitenoise.middleware.WhiteNoiseMiddleware' in s.MIDDLEWARE, 'csp.middleware.CSPMiddleware' in "
              "s.MIDDLEWARE]))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=production_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, True, True, 31536000,
                                         "whitenoise.storage.CompressedManifestStaticFilesStorage", "json", True, True]


def test_responses_carry_the_security_headers(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/admin/login/", secure=True)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_the_api_docs_need_no_inline_script(client):
    """Swagger UI's start-up script is its own file, so the policy's script-src 'self' lets it run."""
    client.force_login(UserFactory())
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>" not in html
    assert "/api/v1/docs/?script=" in html
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")


def test_json_log_lines_carry_the_message_level_extras_and_exception():
    record = logging.LogRecord("payouts", logging.ERROR, __file__, 1, "run %s failed", (7,), None)
    record.run_id = 7
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "run 7 failed"
    assert (line["level"], line["logger"], line["run_id"]) == ("ERROR", "payouts", 7)
    assert "ValueError: boom" in line["exception"]
