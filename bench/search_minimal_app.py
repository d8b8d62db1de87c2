"""The floor bench/search_load.py compares the API with: a minimal WSGI app that runs the default search's statement
(BENCH_SQL with BENCH_PARAMS, JSON), or with BENCH_MIX (a JSON list of [statement,
parameters]) the one the query string numbers, on one psycopg connection per worker, with
client-side binding like Django's backend, and answers the rows as JSON. No framework, authentication, throttle
or cache: what serving the statement costs and no more."""

from __future__ import annotations

import json
import os

import psycopg

SQL = os.environ.get("BENCH_SQL", "")
PARAMS = json.loads(os.environ.get("BENCH_PARAMS", "{}"))
MIX = json.loads(os.environ.get("BENCH_MIX", "[]"))
COLUMNS = ("id", "handle", "display_name", "kind", "country", "followers", "avg_views", "engagement_rate",
           "posts_30d", "categories")
_connection: psycopg.Connection | None = None


def application(environ, start_response):
    global _connection
    if _connection is None or _connection.closed:  # opened in the worker, after the fork
        _connection = psycopg.connect(os.environ["BENCH_DSN"], autocommit=True, prepare_threshold=None,
                                      cursor_factory=psycopg.ClientCursor)
    sql, params = MIX[int(environ.get("QUERY_STRING") or 0)] if MIX else (SQL, PARAMS)
    rows = _connection.execute(sql, params).fetchall()
    results = [{**dict(zip(COLUMNS[1:], row[1:], strict=True)), "engagement_rate": float(row[7])} for row in rows[:50]]
    body = json.dumps({"next": None, "previous": None, "results": results}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
