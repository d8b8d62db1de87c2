"""The read-replica router (core/replica.py): reads inside replica_reads() go to the replica when one is configured;
writes, and every other read, stay on the primary."""

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext

from core.replica import REPLICA, ReplicaRouter, read_alias, replica_reads
from partnerships.models import Partner
from tests.partnerships.factories import PartnerFactory

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql" or REPLICA not in connections.settings,
                                 reason="the test settings give PostgreSQL a stand-in replica")


def test_when_off_or_without_a_replica_every_read_and_write_goes_to_the_primary(settings):
    settings.SEARCH_READ_REPLICA = False  # on SQLite there is no replica at all
    router = ReplicaRouter()
    with replica_reads() as alias:
        assert alias == read_alias() == DEFAULT_DB_ALIAS
        assert router.db_for_read(Partner) is None  # Django's default: the primary
    assert router.db_for_write(Partner) == DEFAULT_DB_ALIAS


@on_postgres
def test_with_a_replica_only_reads_inside_the_block_go_to_it(settings):
    settings.SEARCH_READ_REPLICA = True
    router = ReplicaRouter()
    assert router.db_for_read(Partner) is None
    with replica_reads() as alias:
        assert alias == read_alias() == REPLICA
        assert router.db_for_read(Partner) == REPLICA
        assert router.db_for_write(Partner) == DEFAULT_DB_ALIAS  # never a write on the replica
        with replica_reads():
            pass
        assert read_alias() == REPLICA  # a nested block leaves the outer one as it was
    assert read_alias() == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "partnerships") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "partnerships") is True


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_orm_reads_in_the_block_run_on_the_replica_connection_and_writes_on_the_primary(settings):
    settings.SEARCH_READ_REPLICA = True
    PartnerFactory(handle="ana")
    with CaptureQueriesContext(connections[REPLICA]) as on_replica, \
            CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary:
        with replica_reads():
            partner = Partner.objects.get(handle="ana")
            locked = Partner.objects.select_for_update().filter(handle="ana")  # a read for a write: the primary
            assert locked.db == DEFAULT_DB_ALIAS
        partner.display_name = "Ana"
        partner.save(update_fields=["display_name"])
        Partner.objects.filter(handle="ana").exists()

    on_replica_sql = [q["sql"] for q in on_replica.captured_queries]
    assert len(on_replica_sql) == 1
    assert on_replica_sql[0].startswith("SELECT")
    assert "partnerships_partner" in on_replica_sql[0]
    assert "ana" in on_replica_sql[0]
    primary = [q["sql"] for q in on_primary.captured_queries]
    assert any(sql.startswith("UPDATE") for sql in primary)
    assert any(sql.startswith("SELECT 1 AS") for sql in primary)  # the read after the block: the primary
    assert Partner.objects.get(handle="ana").display_name == "Ana"
