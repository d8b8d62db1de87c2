# The import job moves from partnerships to ingestion: state only, its table (partnerships_importjob) stays.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("partnerships", "0013_payout_readiness_permission"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ImportJob",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("kind", models.CharField(choices=[("metrics", "Daily metrics"), ("ad_revenue", "Ad revenue")],
                                                  max_length=20)),
                        ("status", models.CharField(choices=[("queued", "Queued"), ("running", "Running"),
                                                             ("succeeded", "Succeeded"), ("failed", "Failed")],
                                                    default="queued", max_length=10)),
                        ("source_name", models.CharField(help_text="The uploaded or given file name.", max_length=255)),
                        ("file_path", models.CharField(blank=True, help_text="Where the uploaded file is stored.",
                                                       max_length=500)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("rows_processed", models.BigIntegerField(default=0)),
                        ("rows_loaded", models.BigIntegerField(default=0)),
                        ("rows_rejected", models.BigIntegerField(default=0)),
                        ("bytes_total", models.BigIntegerField(default=0)),
                        ("bytes_processed", models.BigIntegerField(default=0)),
                        ("error_report_path", models.CharField(blank=True, max_length=500)),
                        ("message", models.TextField(blank=True)),
                        ("created_by", models.ForeignKey(blank=True, null=True,
                                                         on_delete=django.db.models.deletion.SET_NULL,
                                                         related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "partnerships_importjob",
                        "indexes": [models.Index(fields=["status", "-created_at"], name="import_job_status_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
