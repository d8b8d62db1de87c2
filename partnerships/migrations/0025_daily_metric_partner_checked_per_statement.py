"""PostgreSQL: the partner of daily metrics and of their monthly rollups is checked once per statement by triggers
instead of row by row at commit by deferred foreign keys, as payouts' ledger accounts (payouts 0019).

A daily load inserts up to a million daily rows and, on the first day of a month, as many rollup rows; each foreign-key
check ran a query at commit and locked its partner's row (FOR KEY SHARE: a WAL record and a dirtied partner page per
row). Kept by triggers instead:
- after INSERT, one anti-join per statement over its new rows: every partner exists;
- an UPDATE that changes a row's partner (only the ORM's; the load's upsert never names partner_id) checks the new one;
- a partner with daily metrics (attached months; archived ones have no foreign key either) or rollups cannot be
  deleted: Django's CASCADE deletes them first in the ORM, as before;
- one advisory lock: writing rows holds it shared, deleting a partner exclusively, so a deletion either waits for the
  writer to commit and then sees its rows, or commits first and the writer's check sees the partner gone.
The rollups' own index on partner_id goes too: the unique (partner_id, month) serves the same lookups, and each
rollup row a load inserts paid for four indexes. SQLite keeps Django's checks only. The SQL is frozen here, as a
migration must be."""

import django.db.models.deletion
from django.db import migrations, models

GUARDS_SQL = """
CREATE OR REPLACE FUNCTION partnerships_metric_partners_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('partnerships_metric_partner_references'));
    -- Not over DISTINCT partner ids: the planner guesses 200 of them and probes the partners' index once per row
    -- (0.7 s for 200,000 rows); over the rows themselves it hashes the partners instead.
    SELECT n.partner_id INTO missing FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM partnerships_partner p WHERE p.id = n.partner_id) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'a row of % refers to partner % which does not exist', TG_TABLE_NAME, missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION partnerships_metric_new_partner_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('partnerships_metric_partner_references'));
    IF NOT EXISTS (SELECT 1 FROM partnerships_partner p WHERE p.id = NEW.partner_id) THEN
        RAISE EXCEPTION 'a row of % refers to partner % which does not exist', TG_TABLE_NAME, NEW.partner_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION partnerships_refuse_delete_with_metrics() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('partnerships_metric_partner_references'));
    IF EXISTS (SELECT 1 FROM partnerships_dailymetric WHERE partner_id = OLD.id)
       OR EXISTS (SELECT 1 FROM partnerships_monthlymetricrollup WHERE partner_id = OLD.id) THEN
        RAISE EXCEPTION 'partner % has daily metrics: it cannot be deleted', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER daily_metric_partners_exist AFTER INSERT ON partnerships_dailymetric
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partnerships_metric_partners_exist();
CREATE TRIGGER daily_metric_new_partner_exists BEFORE UPDATE OF partner_id ON partnerships_dailymetric
    FOR EACH ROW WHEN (OLD.partner_id IS DISTINCT FROM NEW.partner_id)
    EXECUTE FUNCTION partnerships_metric_new_partner_exists();
CREATE TRIGGER metric_rollup_partners_exist AFTER INSERT ON partnerships_monthlymetricrollup
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partnerships_metric_partners_exist();
CREATE TRIGGER metric_rollup_new_partner_exists BEFORE UPDATE OF partner_id ON partnerships_monthlymetricrollup
    FOR EACH ROW WHEN (OLD.partner_id IS DISTINCT FROM NEW.partner_id)
    EXECUTE FUNCTION partnerships_metric_new_partner_exists();
CREATE TRIGGER partner_without_metrics BEFORE DELETE ON partnerships_partner
    FOR EACH ROW EXECUTE FUNCTION partnerships_refuse_delete_with_metrics();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS daily_metric_partners_exist ON partnerships_dailymetric;
DROP TRIGGER IF EXISTS daily_metric_new_partner_exists ON partnerships_dailymetric;
DROP TRIGGER IF EXISTS metric_rollup_partners_exist ON partnerships_monthlymetricrollup;
DROP TRIGGER IF EXISTS metric_rollup_new_partner_exists ON partnerships_monthlymetricrollup;
DROP TRIGGER IF EXISTS partner_without_metrics ON partnerships_partner;
DROP FUNCTION IF EXISTS partnerships_metric_partners_exist(), partnerships_metric_new_partner_exists(),
    partnerships_refuse_delete_with_metrics();
"""


def guards_forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARDS_SQL, params=None)  # plpgsql uses % itself: no parameters


def guards_backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0024_search_table_statistics_update_in_place'),
    ]

    operations = [
        migrations.AlterField(
            model_name='dailymetric',
            name='partner',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name='daily_metrics', to='partnerships.partner'),
        ),
        migrations.AlterField(
            model_name='monthlymetricrollup',
            name='partner',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name='metric_rollups', to='partnerships.partner'),
        ),
        migrations.RunPython(guards_forwards, guards_backwards),
    ]
