"""The search table copies the partner's names (handle, display name), which a text search (``q``) matches.

A text search then reads the search table alone: the ordering indexes of migration 0022 are made again with the names
among their included columns, so PostgreSQL can walk an index in the page's order and test the text on each entry
without reading the partner (partnerships.marketplace.search). The triggers' sync function (migration 0022's, with
the two columns more) copies the names; a partner's update hands its partners to it when a copied column changed,
names included, and the sync still leaves a row alone when nothing it copies changed, so a statistics refresh writes
no more rows than before (only wider ones).

Written out in SQL (not calling application code) so the migration never changes."""

import importlib

from django.conf import settings
from django.db import migrations, models

search_table = importlib.import_module("partnerships.migrations.0022_marketplace_creator_search_table")
TABLE, PARTNER, STATISTICS = search_table.TABLE, search_table.PARTNER, search_table.STATISTICS
CANDIDATE = search_table.CANDIDATE
NAMES = ("handle", "display_name")


def _sync(columns: tuple[str, ...], sources: tuple[str, ...]) -> str:
    """Migration 0022's sync function, copying ``columns`` from ``sources``."""
    select = (f"SELECT {', '.join(sources)} FROM {PARTNER} p JOIN {STATISTICS} s ON s.partner_id = p.id "
              f"WHERE {CANDIDATE}")
    return f"""
CREATE OR REPLACE FUNCTION cp_marketplace_creator_sync(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM {TABLE} c WHERE c.partner_id = ANY(ids) AND NOT EXISTS (
        SELECT 1 FROM {PARTNER} p JOIN {STATISTICS} s ON s.partner_id = p.id
        WHERE p.id = c.partner_id AND {CANDIDATE});
    INSERT INTO {TABLE} AS c ({', '.join(columns)})
    {select} AND p.id IN (SELECT DISTINCT unnest(ids)) AND NOT EXISTS (
        SELECT 1 FROM {TABLE} m WHERE m.partner_id = p.id
        AND ({', '.join(f'm.{column}' for column in columns[1:])}) IS NOT DISTINCT FROM ({', '.join(sources[1:])}))
    ON CONFLICT (partner_id) DO UPDATE SET {', '.join(f'{column} = EXCLUDED.{column}' for column in columns[1:])}
    WHERE ({', '.join(f'c.{column}' for column in columns[1:])})
          IS DISTINCT FROM ({', '.join(f'EXCLUDED.{column}' for column in columns[1:])});
$$"""


def _partner_changed(copied: tuple[str, ...]) -> str:
    """Migration 0022's trigger function after an update of partners, handing sync those whose ``copied`` changed."""
    new, old = ", ".join(f"n.{c}" for c in copied), ", ".join(f"o.{c}" for c in copied)
    changed = f"SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE ({new}) IS DISTINCT FROM ({old})"
    return f"""CREATE OR REPLACE FUNCTION cp_marketplace_creator_from_partner_changed() RETURNS trigger
               LANGUAGE plpgsql AS $$
               BEGIN
                   PERFORM cp_marketplace_creator_sync(ARRAY({changed}));
                   RETURN NULL;
               END $$"""


COLUMNS = (*search_table.COLUMNS, *NAMES)
SOURCES = (*search_table.SOURCES, *(f"p.{name}" for name in NAMES))
PARTNER_COPIED = (*search_table.COPIED["id"], *NAMES)
SELECT = (f"SELECT {', '.join(SOURCES)} FROM {PARTNER} p JOIN {STATISTICS} s ON s.partner_id = p.id "
          f"WHERE {CANDIDATE}")


def _indexes(names: tuple[str, ...]) -> dict[str, str]:
    """Migration 0022's ordering indexes (the rows past the thresholds in force now), also including ``names``."""
    eligible = (f"opted_into_brand_deals AND status = 'active'"
                f" AND followers >= {int(settings.MARKETPLACE_MIN_FOLLOWERS)}"
                f" AND views_30d >= {int(settings.MARKETPLACE_MIN_VIEWS_30D)}"
                f" AND posts_30d >= {int(settings.MARKETPLACE_MIN_POSTS_30D)}")
    covered = ["kind", "country", "date_of_birth", "age_verified", "followers", "avg_views_per_post",
               "engagement_rate", "posts_30d", *names]
    return {
        f"cp_mc_{name}_idx": f"ON {TABLE} ({column}, partner_id) "
                             f"INCLUDE ({', '.join(c for c in covered if c != column)}) WHERE {eligible}"
        for name, column in search_table.ORDERINGS.items()
    }


def _drop_sqlite_triggers(execute) -> None:
    for name, *_ in search_table.SQLITE_TRIGGERS:
        execute(f"DROP TRIGGER IF EXISTS {name}")


def _create_sqlite_triggers(execute, select: str, columns: tuple[str, ...]) -> None:
    for name, table, event, partner_id in search_table.SQLITE_TRIGGERS:
        execute(f"""CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN
                        DELETE FROM {TABLE} WHERE partner_id = {partner_id};
                        INSERT INTO {TABLE} ({', '.join(columns)}) {select} AND p.id = {partner_id};
                    END""")


def before_columns(apps, schema_editor):
    # SQLite adds a column by making the table again; its triggers, which name it, go first and come back after.
    if schema_editor.connection.vendor != "postgresql":
        _drop_sqlite_triggers(schema_editor.execute)


def after_columns_removed(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        _create_sqlite_triggers(schema_editor.execute, search_table.SELECT, search_table.COLUMNS)


def _fill(execute) -> None:
    execute(f"UPDATE {TABLE} SET handle = p.handle, display_name = p.display_name FROM {PARTNER} p "
            f"WHERE p.id = {TABLE}.partner_id")


def _rebuild_indexes(execute, names: tuple[str, ...]) -> None:
    for name, definition in _indexes(names).items():
        execute(f"DROP INDEX IF EXISTS {name}")
        execute(f"CREATE INDEX {name} {definition}")


def create(apps, schema_editor):
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        # Writers of partners held off meanwhile, so no rename slips between the fill and the new functions.
        execute(f"LOCK TABLE {PARTNER}, {STATISTICS} IN SHARE MODE")
        execute(_sync(COLUMNS, SOURCES))
        execute(_partner_changed(PARTNER_COPIED))
        _fill(execute)
        _rebuild_indexes(execute, NAMES)
        execute(f"ANALYZE {TABLE}")
        return
    _create_sqlite_triggers(execute, SELECT, COLUMNS)
    _fill(execute)


def drop(apps, schema_editor):
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        execute(search_table.PG_SYNC)
        execute(_partner_changed(search_table.COPIED["id"]))
        _rebuild_indexes(execute, ())
        return
    _drop_sqlite_triggers(execute)  # after_columns_removed makes migration 0022's again


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0022_marketplace_creator_search_table'),
    ]

    operations = [
        migrations.RunPython(before_columns, after_columns_removed),
        # The new columns are added empty; create() fills them from the partners.
        migrations.AddField(
            model_name='marketplacecreator',
            name='handle',
            field=models.CharField(default='', max_length=40),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='marketplacecreator',
            name='display_name',
            field=models.CharField(default='', max_length=120),
            preserve_default=False,
        ),
        migrations.RunPython(create, drop),
    ]
