"""The import job: one bulk ingestion of a file, whatever its kind, with its progress and outcome.

The table keeps its first name (partnerships_importjob): the model moved here by a state-only migration."""

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    """One bulk ingestion (a file of daily metrics or ad revenue), with its progress and outcome."""

    class Kind(models.TextChoices):
        METRICS = "metrics", "Daily metrics"
        AD_REVENUE = "ad_revenue", "Ad revenue"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        # The value stays "succeeded" (stored rows and callers use it); people read "Completed", since a load
        # that refused rows did not succeed for those rows: the job's state text names them (ingestion.selectors).
        SUCCEEDED = "succeeded", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    source_name = models.CharField(max_length=255, help_text="The uploaded or given file name.")
    file_path = models.CharField(max_length=500, blank=True, help_text="Where the uploaded file is stored.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_processed = models.BigIntegerField(default=0)
    rows_loaded = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_processed = models.BigIntegerField(default=0)
    error_report_path = models.CharField(max_length=500, blank=True)
    message = models.TextField(blank=True)
    cancel_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When someone asked the job to stop; the worker stops before the merge.")
    cancel_requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")

    class Meta:
        db_table = "partnerships_importjob"
        indexes = [models.Index(fields=["status", "-created_at"], name="import_job_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import {self.pk}: {self.source_name}"

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)
