"""Trigram indexes that serve the admin's search box on PostgreSQL.

Django's ``icontains`` (used by ``search_fields``) emits ``UPPER(col::text) LIKE UPPER(%s)``: only an
index on that same expression can serve it, so the index is on ``UPPER(col)`` with ``gin_trgm_ops``.
SQLite has no such index type; there the migration does nothing."""

from django.db import migrations

INDEXES = {
    "partner_handle_trgm_idx": "partnerships_partner USING gin (UPPER(handle) gin_trgm_ops)",
    "partner_display_name_trgm_idx": "partnerships_partner USING gin (UPPER(display_name) gin_trgm_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("partnerships", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
