"""PostgreSQL: exact integer helpers for the formulas, and the ledger's guards (append-only entries and
transactions; every INSERT statement into the entries must leave each transaction balanced).
SQLite gets the helpers from payouts/sql.py and the balance check from payouts/ledger.py."""

from django.db import migrations

from payouts.ledger import TRIGGERS_SQL
from core.sql import POSTGRES_FUNCTIONS


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTIONS, params=None)
        schema_editor.execute(TRIGGERS_SQL, params=None)  # plpgsql uses % itself: no parameters


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("""
            DROP TRIGGER IF EXISTS ledger_entry_balanced ON payouts_ledgerentry;
            DROP TRIGGER IF EXISTS ledger_entry_append_only ON payouts_ledgerentry;
            DROP TRIGGER IF EXISTS ledger_transaction_append_only ON payouts_ledgertransaction;
            DROP FUNCTION IF EXISTS payouts_ledger_balanced(), payouts_ledger_append_only();
            DROP FUNCTION IF EXISTS cp_muldiv_floor(numeric, numeric, numeric), cp_muldiv_rem(numeric, numeric, numeric),
                cp_div_half_even(numeric, numeric);
        """)


class Migration(migrations.Migration):
    dependencies = [("payouts", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
