import pytest
from django.core.cache import cache
from django.db import connection

from config import health
from config.celery import app as celery_app
from tests.partnerships.factories import UserFactory


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need the real database's locking and triggers: skip them on SQLite."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); runs in .ci/run")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", groups=["Partnership managers"])


@pytest.fixture
def second_manager(db):
    return UserFactory(username="manager2", groups=["Partnership managers"])


@pytest.fixture
def finance(db):
    return UserFactory(username="finance", groups=["Finance approvers"])


@pytest.fixture
def outsider(db):
    """A staff user in no group."""
    return UserFactory(username="outsider")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def media_and_eager_tasks(settings, tmp_path, monkeypatch):
    """Uploads and reports in a scratch directory; Celery tasks in process even where a broker is configured (the
    PostgreSQL run)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def empty_cache():
    """An empty cache before and after: the partner list caches its country filter's choices, and a test must not
    see those of the previous one."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_readiness():
    """Each test sees readiness as a new process does: no answer kept from another test's settings."""
    health.forget()
    yield
    health.forget()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test starts with full per-brand budgets: on SQLite brand ids repeat from test to test, and the counts of
    earlier tests (kept in the cache for their window) would otherwise be spent by the next brand with that id."""
    cache.clear()


@pytest.fixture
def locks_held(db):
    """PostgreSQL: the number of locks this session's transaction holds (pg_locks), as a function to call."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's lock table")

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()")
            return cursor.fetchone()[0]
    return count
