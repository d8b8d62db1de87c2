# The import job now belongs to ingestion (ingestion 0001 takes it into its state): state only, the table stays.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("partnerships", "0013_payout_readiness_permission"),
        ("ingestion", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ImportJob")],
            database_operations=[],
        ),
    ]
