"""PostgreSQL: the daily metrics become a table partitioned by month (PARTITION BY RANGE (day)), one partition per
month that has rows, and a DEFAULT partition that takes a row of a month without its own (the beat task
partnerships.metric_partitions_ensure creates each month's partition before the month starts, and moves any rows the
default partition holds for it). SQLite keeps its one table: nothing happens there.

The columns, their defaults, NOT NULL and CHECK constraints, the identity of ``id`` (its sequence continued past the
largest id) and the foreign key to the partner are kept. PostgreSQL wants the partition key in every unique
constraint, so the primary key becomes (id, day) in the database; Django keeps ``id`` as its primary key (ids stay
unique: only the sequence gives them). The unique (partner_id, day) — the merge's ON CONFLICT target — already holds
the key. The separate index on partner_id is not made again: (partner_id, day) serves its lookups.

The rows are copied once, under an exclusive lock, in the migration's transaction: on a large table plan the release
for the time of a copy (and the disk for a second copy until it commits). Reversible (one plain table again).

Written out in SQL (not calling partnerships.services.partitions) so the migration never changes."""

from django.db import migrations

TABLE = "partnerships_dailymetric"
OLD = "partnerships_dailymetric_unpartitioned"
MONTHS_AHEAD = 3  # partitions made now for the coming months; the beat task keeps them ahead


def _month_after(month):
    return month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from django.utils import timezone

    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [TABLE])
        if cursor.fetchone()[0] == "p":
            return  # partitioned already
        # Index names are unique per schema: the old table's give way to the new table's.
        cursor.execute("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE i.indrelid = %s::regclass", [TABLE])
        for number, (index,) in enumerate(cursor.fetchall()):
            cursor.execute(f'ALTER INDEX "{index}" RENAME TO "{OLD}_index_{number}"')
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = %s::regclass AND contype = 'f'", [TABLE])
        foreign_keys = cursor.fetchall()
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(f"""
            CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY
                                  INCLUDING STORAGE INCLUDING COMMENTS)
            PARTITION BY RANGE (day)""")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, day)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT daily_metric_one_row_per_partner_day "
                       "UNIQUE (partner_id, day)")
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        cursor.execute(f"SELECT MIN(day), MAX(day) FROM {OLD}")
        first, last = cursor.fetchone()
        this_month = timezone.localdate().replace(day=1)
        month = min(first.replace(day=1), this_month) if first else this_month
        end = max(last.replace(day=1) if last else this_month, this_month)
        for _ in range(MONTHS_AHEAD):
            end = _month_after(end)
        while month <= end:
            after = _month_after(month)
            cursor.execute(f"CREATE TABLE {TABLE}_y{month:%Ym%m} PARTITION OF {TABLE} "
                           f"FOR VALUES FROM ('{month.isoformat()}') TO ('{after.isoformat()}')")
            month = after
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
                       f"GREATEST((SELECT MAX(id) FROM {OLD}), 1), (SELECT MAX(id) IS NOT NULL FROM {OLD}))")
        cursor.execute(f"SELECT pg_get_serial_sequence('{OLD}', 'id'), pg_get_serial_sequence('{TABLE}', 'id')")
        _, sequence = cursor.fetchone()
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {TABLE}_id_seq")
        for name, definition in foreign_keys:
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(f"ANALYZE {TABLE}")


def unpartition(apps, schema_editor):
    """Back to one plain table with the same rows and ids (archived months stay in the archive schema)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [TABLE])
        if cursor.fetchone()[0] != "p":
            return
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = %s::regclass AND contype = 'f'", [TABLE])
        foreign_keys = cursor.fetchall()
        cursor.execute(f"SELECT pg_get_serial_sequence('{TABLE}', 'id')")
        (sequence,) = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey")
        cursor.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT daily_metric_one_row_per_partner_day TO {OLD}_key")
        cursor.execute(f"""
            CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY
                                  INCLUDING STORAGE INCLUDING COMMENTS)""")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
                       f"GREATEST((SELECT last_value FROM {sequence}), 1), (SELECT is_called FROM {sequence}))")
        cursor.execute(f"SELECT pg_get_serial_sequence('{TABLE}', 'id')")
        (new_sequence,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {OLD} CASCADE")  # its partitions with it
        cursor.execute(f"ALTER SEQUENCE {new_sequence} RENAME TO {TABLE}_id_seq")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT daily_metric_one_row_per_partner_day "
                       "UNIQUE (partner_id, day)")
        index = schema_editor._create_index_name(TABLE, ["partner_id"])
        cursor.execute(f'CREATE INDEX "{index}" ON {TABLE} (partner_id)')
        for name, definition in foreign_keys:
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ('partnerships', '0020_statistics_changes'),
    ]

    operations = [
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
