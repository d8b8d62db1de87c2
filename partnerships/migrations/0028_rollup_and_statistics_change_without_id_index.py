"""PostgreSQL: the monthly rollups and the statistics' changes keep their id column but no primary-key index on it.

Django keeps ``id`` as both models' primary key (the ORM still reads and writes it; the column stays NOT NULL with its
default), as it does for the daily metrics, whose database key is (id, day) since migration 0021. No statement reads
either table by id: the merge, the rollups' recompute and the payout month find a rollup row by (partner, month) or
month, and the statistics refresh takes the changes whole (partnerships.services.statistics). Every new row wrote an
entry in an index nobody read: a daily load writes a statistics change per daily row, and the first day of a month a
rollup row per partner (bench/ingest_profile.py at 200,000 rows: the merge statement 0.1 s shorter on the second day
of a month and 0.25 s on the first; the README's Benchmarks section has the figures). SQLite keeps its keys (a table
there cannot drop its primary key)."""

from django.db import migrations

TABLES = ("partnerships_monthlymetricrollup", "partnerships_statisticschange")


def drop_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey")


def add_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0027_statistics_updated_in_place'),
    ]

    operations = [
        migrations.RunPython(drop_keys, add_keys, elidable=False),
    ]
