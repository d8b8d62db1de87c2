"""What a web process loads before it serves, so that no request pays for it.

Django imports the URLconf, and with it every view, serializer and admin module, at the first request it resolves;
a process's first request also builds DRF's settings and its renderers. With gunicorn's preload (config/gunicorn.py)
config.wsgi is imported once, in the master, and this runs there: every worker forked from it, including one that
replaces a worker recycled by max_requests, starts with all of it in memory (about 0.2 s of CPU per worker
otherwise, on the first request it accepts while the others queue behind it). Nothing here connects to the database,
the cache or the broker, so the forks share no connection."""

from __future__ import annotations


def warm_up() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf and every view module it names
