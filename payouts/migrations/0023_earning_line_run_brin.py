"""Earning lines: two indexes written per line instead of three (issue 18's pooled month).

A month writes a line for each of up to millions of partners, and every index is written for each of them: about
0.8 s per million lines (bench/payouts.py). The lines had the primary key, a unique (run, partner) and an index on
(partner, run). Now:
- the unique constraint is on (partner, run): the same rule, and the index a partner's lines are read by
  (statements, creator pages, tax years, the references' triggers), so the separate (partner, run) index goes;
- the reads of a whole run (its totals, settlement, screening, the admin's run filter) use a BRIN index on run_id
  (PostgreSQL only: SQLite, development and tests, has no BRIN and reads its few lines without one). A run's lines
  are written by one INSERT, so they lie together in the table: the BRIN index keeps one summary per 128 pages and
  costs next to nothing to write. autosummarize: ranges a large insert fills are summarised by autovacuum without
  waiting for a VACUUM (an unsummarised range is read by every run's lookups until then).
"""

from django.db import migrations, models

BRIN = "earning_line_run_brin"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX {BRIN} ON payouts_earningline USING brin (run_id) "
                              "WITH (autosummarize = on)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {BRIN}")


class Migration(migrations.Migration):

    dependencies = [
        ('payouts', '0022_video_monthly_views'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RemoveIndex(
            model_name='earningline',
            name='earning_line_partner_idx',
        ),
        migrations.RemoveConstraint(
            model_name='earningline',
            name='earning_line_one_per_partner_run',
        ),
        migrations.AddConstraint(
            model_name='earningline',
            constraint=models.UniqueConstraint(fields=('partner', 'run'), name='earning_line_one_per_partner_run'),
        ),
    ]
