"""Statistics keep no index but their primary key, and on PostgreSQL half of each page free (fillfactor 45): the
refresh after a daily load then writes each changed partner's new row version on its own page (a heap-only update),
with no new index entry at all.

Every refresh changes a changed partner's follower count, so while followers were indexed no update could be
heap-only (bench/ingest_statistics.py, 200,000 changed partners on a restored copy: the UPDATE 2.3 s instead of
4.5 s, the whole refresh 3.4 s against 5.7 s; at fillfactor 75 only a third of the updates found room on their
page). Nothing needs the index any more: brand search reads the search table (migrations 0022-0024) and its own
indexes, bench/search_load.py's minimal app serves the API's statement over that table, the marketplace rule is
applied with the other thresholds to the partners' join, and the admin's follower-band filter reads the table in
full (the README's Benchmarks section has its time at 1,000,000 partners).

The fillfactor applies to pages written from now on; the pages of an existing table gain their room as the refreshes
move rows off them and vacuum reclaims the old versions."""

from django.db import migrations, models

STATISTICS = "partnerships_partnerstatistics"
# The name Django gave the index (migration 0001), the same on both databases. Dropped by name: on SQLite,
# AlterField would rebuild the table, which the search table's triggers (migration 0022) read.
FOLLOWERS_INDEX = "partnerships_partnerstatistics_followers_f6c8297b"


def leave_room_on_each_page(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {STATISTICS} SET (fillfactor = 45)")


def fill_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {STATISTICS} RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0026_statistics_figures_not_indexed'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f"DROP INDEX IF EXISTS {FOLLOWERS_INDEX}",
                                  f"CREATE INDEX {FOLLOWERS_INDEX} ON {STATISTICS} (followers)"),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='partnerstatistics',
                    name='followers',
                    field=models.BigIntegerField(default=0),
                ),
            ],
        ),
        migrations.RunPython(leave_room_on_each_page, fill_pages, elidable=False),
    ]
