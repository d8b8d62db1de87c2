"""Statistics keep an index on followers only (and their primary key): the indexes of views_30d, avg_views_per_post and
engagement_rate go.

Brand search reads the search table (migrations 0022-0024) and its own indexes; the admin sorts partners by these
figures through a left join, which no index of statistics orders; matching ranks every candidate. Each refresh after
a load writes a new version of every changed partner's row, and with it an entry in every index of the table: at
200,000 changed partners three of the five indexes were written for no reader (bench/ingest_statistics.py; the
README's Benchmarks section has the figures). Followers keep theirs: the hand-written search that
bench/search_load.py's minimal app serves walks it."""

from django.db import migrations, models

STATISTICS = "partnerships_partnerstatistics"
# The names Django gave the indexes (migrations 0001 and 0007), the same on both databases. Dropped by name: on
# SQLite, AlterField would rebuild the table, which the search table's triggers (migration 0022) read.
INDEXES = {"views_30d": "partnerships_partnerstatistics_views_30d_54fd3708",
           "avg_views_per_post": "partnerships_partnerstatistics_avg_views_per_post_c864ccba",
           "engagement_rate": "partnerships_partnerstatistics_engagement_rate_306166c9"}


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0025_daily_metric_partner_checked_per_statement'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f"DROP INDEX IF EXISTS {name}", f"CREATE INDEX {name} ON {STATISTICS} ({column})")
                for column, name in INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='partnerstatistics',
                    name='avg_views_per_post',
                    field=models.BigIntegerField(default=0),
                ),
                migrations.AlterField(
                    model_name='partnerstatistics',
                    name='engagement_rate',
                    field=models.DecimalField(decimal_places=2, default=0, help_text='(likes + comments + shares) / views, in percent.', max_digits=7),
                ),
                migrations.AlterField(
                    model_name='partnerstatistics',
                    name='views_30d',
                    field=models.BigIntegerField(default=0),
                ),
            ],
        ),
    ]
