from django.db import migrations


def payments_leave_room_for_every_status(apps, schema_editor):
    """PostgreSQL: payments' pages keep 55% free (0015 kept 30%). A payment row is about 130 bytes and its sent
    version (sent_at filled) a little more, so a page holds about 42 payments at 70% and has room for the new
    versions of only 18 of them: a release marking its batch sent updated 44% of the rows in place (heap-only) and
    wrote the other 56% into every one of the table's five indexes. At 45% every payment of a page has room for its
    new version on the page (bench/batches.py)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE payouts_payment SET (fillfactor = 45)")


def payments_back_to_0015(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE payouts_payment SET (fillfactor = 70)")


class Migration(migrations.Migration):
    dependencies = [("payouts", "0017_forfeiture")]

    operations = [migrations.RunPython(payments_leave_room_for_every_status, payments_back_to_0015, elidable=False)]
