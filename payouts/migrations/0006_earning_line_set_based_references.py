"""Earning lines: the references to their run and partner checked once per statement instead of once per row.

A month writes a line for each of up to millions of partners in one INSERT. PostgreSQL's foreign-key
constraints check every row on its own and lock the partner's row for it, which took longer than computing
the month. The constraints are replaced (PostgreSQL) by:

- a statement-level trigger after INSERT that checks, in one anti-join over the statement's new rows, that
  every partner and run exists;
- a row trigger refusing to change a line's partner or run;
- row triggers before DELETE of a partner or a run that refuse it while lines refer to it (Django's
  PROTECT and CASCADE still act first in the ORM: a run's lines are deleted before the run);
- one advisory lock: inserting lines holds it shared, a deletion holds it exclusively, so a deletion either
  waits for a computation to commit and then sees its lines, or commits first and the insert's check sees
  the partner gone.

SQLite (development and tests) keeps Django's checks only. The SQL is frozen here, as a migration must be.
"""

from django.db import migrations, models
import django.db.models.deletion

GUARDS_SQL = """
CREATE OR REPLACE FUNCTION payouts_line_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('payouts_earningline_references'));
    SELECT 'partner ' || n.partner_id INTO missing FROM new_lines n
     WHERE NOT EXISTS (SELECT 1 FROM partnerships_partner p WHERE p.id = n.partner_id) LIMIT 1;
    IF missing IS NULL THEN
        SELECT 'payout run ' || n.run_id INTO missing FROM (SELECT DISTINCT run_id FROM new_lines) n
         WHERE NOT EXISTS (SELECT 1 FROM payouts_payoutrun r WHERE r.id = n.run_id) LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'an earning line refers to % which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION payouts_line_keys_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the partner and run of an earning line never change (line %)', OLD.id
        USING ERRCODE = 'foreign_key_violation';
END $$;

CREATE OR REPLACE FUNCTION payouts_refuse_delete_with_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('payouts_earningline_references'));
    IF TG_TABLE_NAME = 'partnerships_partner' THEN
        IF EXISTS (SELECT 1 FROM payouts_earningline WHERE partner_id = OLD.id) THEN
            RAISE EXCEPTION 'partner % has earning lines: it cannot be deleted', OLD.id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM payouts_earningline WHERE run_id = OLD.id) THEN
        RAISE EXCEPTION 'payout run % still has earning lines: delete them first', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER earning_line_references_exist AFTER INSERT ON payouts_earningline
    REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION payouts_line_references_exist();
CREATE TRIGGER earning_line_keys_fixed BEFORE UPDATE OF partner_id, run_id ON payouts_earningline
    FOR EACH ROW WHEN (OLD.partner_id IS DISTINCT FROM NEW.partner_id OR OLD.run_id IS DISTINCT FROM NEW.run_id)
    EXECUTE FUNCTION payouts_line_keys_fixed();
CREATE TRIGGER partner_without_earning_lines BEFORE DELETE ON partnerships_partner
    FOR EACH ROW EXECUTE FUNCTION payouts_refuse_delete_with_lines();
CREATE TRIGGER payout_run_without_earning_lines BEFORE DELETE ON payouts_payoutrun
    FOR EACH ROW EXECUTE FUNCTION payouts_refuse_delete_with_lines();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS earning_line_references_exist ON payouts_earningline;
DROP TRIGGER IF EXISTS earning_line_keys_fixed ON payouts_earningline;
DROP TRIGGER IF EXISTS partner_without_earning_lines ON partnerships_partner;
DROP TRIGGER IF EXISTS payout_run_without_earning_lines ON payouts_payoutrun;
DROP FUNCTION IF EXISTS payouts_line_references_exist(), payouts_line_keys_fixed(),
    payouts_refuse_delete_with_lines();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARDS_SQL, params=None)  # plpgsql uses % itself: no parameters


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0008_brand_oversight_and_invitation_expiry'),
        ('payouts', '0005_earning_line_lean_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='earningline',
            name='partner',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='earning_lines', to='partnerships.partner'),
        ),
        migrations.AlterField(
            model_name='earningline',
            name='run',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='payouts.payoutrun'),
        ),
        migrations.RunPython(forwards, backwards),
    ]
