"""With a read replica configured, the creator search's statements run on it (core.replica) while the token, the
membership and every write stay on the primary: a revoked token is refused whatever the replica holds."""

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext

from core.replica import REPLICA
from partnerships.models import ApiToken

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql" or REPLICA not in connections.settings,
                       reason="the test settings give PostgreSQL a stand-in replica"),
    pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA]),
]
URL = "/api/v1/creators/"


def statements(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def test_the_search_reads_the_replica_and_the_token_the_primary(settings, creators, token_client_a):
    settings.SEARCH_READ_REPLICA = True
    settings.SEARCH_CACHE_SECONDS = 0  # every request reads the database

    with CaptureQueriesContext(connections[REPLICA]) as replica, \
            CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary:
        response = token_client_a.get(URL, {"ordering": "-followers"})

    assert response.status_code == 200, response.content
    assert [row["handle"] for row in response.json()["results"]] == ["cleo", "dan.media", "ben", "ana"]
    on_replica = statements(replica)
    assert any("partnerships_marketplacecreator" in sql and "LIMIT" in sql for sql in on_replica)
    assert not any("partnerships_apitoken" in sql for sql in on_replica)
    on_primary = statements(primary)
    assert any("partnerships_apitoken" in sql for sql in on_primary)
    assert not any("partnerships_marketplacecreator" in sql for sql in on_primary)


def test_a_revoked_token_is_refused_though_the_search_reads_the_replica(settings, creators, token_client_a):
    settings.SEARCH_READ_REPLICA = True
    assert token_client_a.get(URL).status_code == 200
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")

    assert token_client_a.get(URL).status_code == 401
