"""The search table after an update of statistics (PostgreSQL): the copied figures are written in place, in one
statement joining the updated rows, instead of through cp_marketplace_creator_sync (migration 0022).

An update of statistics that keeps each row's partner changes no one's place in the table (a row is there for an
opted-in, active partner with statistics): only the copied figures of the rows already there can change. The
refresh after a load updates the statistics of every partner it changed (at 200,000 partners every one); the sync
then compared old and new rows, built an array of their partners, looked each up in partners, statistics and the
table again and upserted. Now one UPDATE joins the statement's new rows to the table and writes the rows whose
figures differ; it is planned each time (EXECUTE) so that one row's save is an index look-up and a refresh of
200,000 rows a hash join. An update that moves a row to another partner (none in the application) still goes
through the sync, for the partners before and after it: a row trigger on UPDATE OF partner_id, which an update that
does not set partner_id (the refreshes, the ORM's saves) never even considers. Either order of the two gives the
same table: the sync writes the current figures, and the update in place copies the same ones into the rows
already there. (Migration 0022's triggers missed such a move: the rows before and after it did not pair up.) SQLite
keeps its per-row triggers and gets the same one for a move, for the partner the row left.

Written out in SQL (not calling application code) so the migration never changes."""

from importlib import import_module

from django.db import migrations

SEARCH_TABLE = import_module("partnerships.migrations.0022_marketplace_creator_search_table")

TABLE = "partnerships_marketplacecreator"
STATISTICS = "partnerships_partnerstatistics"
COPIED = ("followers", "views_30d", "posts_30d", "avg_views_per_post", "engagement_rate")
IN_PLACE = "cp_marketplace_creator_from_statistics_in_place"
MOVED = "cp_marketplace_creator_from_statistics_moved"
PG_CREATE = [
    f"""CREATE FUNCTION {IN_PLACE}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE 'UPDATE {TABLE} c SET {", ".join(f"{column} = n.{column}" for column in COPIED)}
                     FROM new_rows n WHERE c.partner_id = n.partner_id
                     AND ({", ".join(f"c.{column}" for column in COPIED)})
                         IS DISTINCT FROM ({", ".join(f"n.{column}" for column in COPIED)})';
            RETURN NULL;
        END $$""",
    f"""CREATE FUNCTION {MOVED}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM cp_marketplace_creator_sync(ARRAY[OLD.partner_id, NEW.partner_id]);
            RETURN NULL;
        END $$""",
    f"DROP TRIGGER cp_mc_statistics_update ON {STATISTICS}",
    f"CREATE TRIGGER cp_mc_statistics_update AFTER UPDATE ON {STATISTICS} REFERENCING NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {IN_PLACE}()",
    f"CREATE TRIGGER cp_mc_statistics_moved AFTER UPDATE OF partner_id ON {STATISTICS} FOR EACH ROW "
    f"WHEN (OLD.partner_id IS DISTINCT FROM NEW.partner_id) EXECUTE FUNCTION {MOVED}()",
]
PG_DROP = [
    f"DROP TRIGGER cp_mc_statistics_moved ON {STATISTICS}",
    f"DROP TRIGGER cp_mc_statistics_update ON {STATISTICS}",
    f"CREATE TRIGGER cp_mc_statistics_update AFTER UPDATE ON {STATISTICS} "
    f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION cp_marketplace_creator_from_statistics_changed()",
    f"DROP FUNCTION {MOVED}()",
    f"DROP FUNCTION {IN_PLACE}()",
]


SQLITE_CREATE = [
    f"""CREATE TRIGGER cp_mc_statistics_moved AFTER UPDATE OF partner_id ON {STATISTICS} FOR EACH ROW
        WHEN OLD.partner_id <> NEW.partner_id BEGIN
            DELETE FROM {TABLE} WHERE partner_id = OLD.partner_id;
            INSERT INTO {TABLE} ({", ".join(SEARCH_TABLE.COLUMNS)}) {SEARCH_TABLE.SELECT} AND p.id = OLD.partner_id;
        END""",
]
SQLITE_DROP = ["DROP TRIGGER cp_mc_statistics_moved"]


def create(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in PG_CREATE if postgresql else SQLITE_CREATE:
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in PG_DROP if postgresql else SQLITE_DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("partnerships", "0023_marketplace_creator_names"),
    ]

    operations = [
        migrations.RunPython(create, drop),
    ]
