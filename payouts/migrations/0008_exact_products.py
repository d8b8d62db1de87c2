"""PostgreSQL: exact products and sums for the formulas (cp_mul, cp_add, cp_muldiv_half_even). SQLite registers
the same functions from payouts/sql.py; there they refuse a result past 64 bits instead of turning to float."""

from django.db import migrations

from core.sql import POSTGRES_EXACT_FUNCTIONS


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_EXACT_FUNCTIONS, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS cp_mul(numeric, numeric), cp_add(numeric, numeric), "
                              "cp_muldiv_half_even(numeric, numeric, numeric)")


class Migration(migrations.Migration):
    dependencies = [("payouts", "0007_money_lifecycle")]
    operations = [migrations.RunPython(forwards, backwards)]
