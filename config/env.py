"""The one place that reads the process environment.

Every setting that can vary between machines goes through these helpers, so a missing required
variable fails at start-up with a message naming it, not later with a confusing error.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


class MissingEnvironmentVariable(RuntimeError):
    pass


_REQUIRED = object()
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: object = _REQUIRED) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is _REQUIRED:
            raise MissingEnvironmentVariable(
                f"Environment variable {name} is required but not set. See README.md, 'Environment'."
            )
        return str(default)
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"Environment variable {name}={raw!r} is not a boolean (use true or false).")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"Environment variable {name}={raw!r} is not an integer.") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(url: str, *, base_dir: Path) -> dict:
    """Turn ``sqlite:///relative.db``, ``sqlite:////abs.db`` or ``postgres://u:p@h:5432/db`` into
    a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if path.startswith("//"):
            name = path[1:]
        elif path in ("", "/"):
            name = str(base_dir / "db.sqlite3")
        else:
            name = str(base_dir / path.lstrip("/"))
        # WAL lets the development server read while a task writes; IMMEDIATE takes the write lock when a
        # transaction starts, so concurrent writers wait instead of failing with "database is locked".
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": {
            "timeout": 20, "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }}
    if parsed.scheme in ("postgres", "postgresql", "pgsql"):
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ValueError(
        f"DATABASE_URL scheme {parsed.scheme!r} is not supported; use sqlite:///file.db or "
        "postgres://user:password@host:5432/name."
    )
