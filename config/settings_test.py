"""Test settings: the same settings, with a key and a fast password hasher. DATABASE_URL and
CELERY_BROKER_URL still come from the environment, so one test command serves SQLite and PostgreSQL."""

import os
from typing import Any, cast

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("PAYEE_DATA_KEY", "test-only-payee-data-key")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {  # no manifest: templates render without collectstatic
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# The test client and the live test server speak plain HTTP; production's defaults are checked by
# tests/deploy (check --deploy and the response headers).
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# Serve static files from the apps' folders (no collectstatic before tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
LOG_FORMAT = "plain"
# config.settings' LOGGING is a dict literal of mixed values, which mypy reads as dict[str, object].
cast("dict[str, Any]", LOGGING)["handlers"]["console"]["formatter"] = "plain"  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and "replica" not in DATABASES:  # noqa: F405
    # A second connection to the test database stands in for a read replica (core/replica.py). Off unless a test
    # turns SEARCH_READ_REPLICA on (and declares the alias: pytest's django_db(databases=[...])).
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405
    SEARCH_READ_REPLICA = False
