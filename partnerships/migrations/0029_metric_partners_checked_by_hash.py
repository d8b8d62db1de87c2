"""PostgreSQL: the check after each INSERT of daily metrics or rollups that every row's partner exists (migration
0025) reads the partners once, hashed, instead of probing the partners' primary key once per new row.

Its query asked for the first missing partner (LIMIT 1): the planner then prefers the plan that finds a first row
soonest, a nested loop of index probes, 200,000 of them for a day's load of 200,000 partners (0.21 s in the merge's
EXPLAIN ANALYZE, with a heap fetch per probe). The smallest missing partner (min) makes it cost the whole anti-join,
and it hashes the partners: the merge statement 0.1-0.2 s shorter at 200,000 rows on the second day of a month and
as much on the first, whose rollup rows are checked too (bench/ingest_profile.py). The same rows are refused, with
the same error; the partner it names is the smallest missing one. The SQL is frozen here, as a migration must be."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION partnerships_metric_partners_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('partnerships_metric_partner_references'));
    -- Not over DISTINCT partner ids: the planner guesses 200 of them and probes the partners' index once per row
    -- (0.7 s for 200,000 rows); nor with LIMIT 1, which probes it too. Over the rows, whole: it hashes the partners.
    SELECT min(n.partner_id) INTO missing FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM partnerships_partner p WHERE p.id = n.partner_id);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'a row of % refers to partner % which does not exist', TG_TABLE_NAME, missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
"""

FUNCTION_BEFORE = """
CREATE OR REPLACE FUNCTION partnerships_metric_partners_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('partnerships_metric_partner_references'));
    SELECT n.partner_id INTO missing FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM partnerships_partner p WHERE p.id = n.partner_id) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'a row of % refers to partner % which does not exist', TG_TABLE_NAME, missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)  # plpgsql uses % itself: no parameters


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION_BEFORE, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0028_rollup_and_statistics_change_without_id_index'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
