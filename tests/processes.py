"""Real processes for deployment tests: web (gunicorn), Celery worker and beat, a private redis-server.

Each process logs to a file (never a pipe that could fill and block it); ``stop`` sends SIGTERM and
returns the exit code, so a test can require a clean shutdown."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_database_url() -> str:
    """The database the test process uses (pytest-django's test database), for child processes."""
    s = connection.settings_dict
    user = s["USER"] or "postgres"
    return f"postgres://{user}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def production_password(user, password: str = "pw") -> None:
    """Tests hash passwords with MD5 for speed; a process on production settings only accepts PBKDF2."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(password, hasher.salt())
    user.save(update_fields=["password"])


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DEBUG", "CELERY_BROKER_URL")}
    env.update({"PYTHONUNBUFFERED": "1", "DATABASE_URL": child_database_url(), "LOG_LEVEL": "INFO"})
    env.update(extra)
    return env


class Process:
    def __init__(self, name: str, args: list[str], *, env: dict[str, str], logs: Path):
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("w")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_for_log(self, pattern: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return
            if not self.running():
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}) before {pattern!r}:\n{self.log()}")
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not log {pattern!r} within {timeout} s:\n{self.log()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.running():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                self.popen.kill()
                self.popen.wait(timeout=10)
                raise AssertionError(f"{self.name} did not stop within {timeout} s of signal {sig}:\n"
                                     f"{self.log()[-4000:]}") from exc
        self._log.close()
        return self.popen.returncode


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def gunicorn(port: int) -> list[str]:
    return python("-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}",
                  "--workers", "2")


def celery_worker(name: str, *extra: str) -> list[str]:
    return python("-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--without-gossip", "--without-mingle",
                  "-n", f"{name}-{os.getpid()}@%h", *extra)


def celery_beat(logs: Path) -> list[str]:
    return python("-m", "celery", "-A", "config", "beat", "--loglevel=INFO", "--scheduler",
                  "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile", str(logs / "beat.pid"))


def redis_server(port: int) -> list[str]:
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


class Browser:
    """A tiny HTTP client with cookies and Django's CSRF token, for talking to a real web process."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path: str, data: dict | None = None, timeout: float = 30) -> tuple[int, str, dict]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body, headers={"Referer": self.base_url + path})
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.read().decode(errors="replace"), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)

    def csrf(self, html: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, html[:2000]
        return match.group(1)

    def submit(self, path: str, fields: dict) -> tuple[int, str, dict]:
        status, html, _ = self.request(path)
        assert status == 200, (status, html[:2000])
        return self.request(path, {**fields, "csrfmiddlewaretoken": self.csrf(html)})

    def admin_login(self, username: str, password: str = "pw") -> None:
        status, html, _ = self.submit("/admin/login/?next=/admin/", {"username": username, "password": password,
                                                                       "next": "/admin/"})
        assert status == 200, (status, html[:2000])
        assert 'id="site-name"' in html, html[:3000]
        assert "log out" in html.lower(), html[:3000]

    def wait_until_up(self, server: Process, path: str = "/health/live", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert server.running(), f"{server.name} exited ({server.popen.returncode}):\n{server.log()[-4000:]}"
            try:
                if self.request(path, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{self.base_url}{path} did not answer within {timeout} s")


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.5, processes: tuple[Process, ...] = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for process in processes:
            assert process.running(), f"{process.name} died:\n{process.log()[-4000:]}"
        time.sleep(interval)
    logs = "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in processes)
    raise AssertionError(f"{what}: not within {timeout} s\n{logs}")
